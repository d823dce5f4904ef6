// The real Claude Code and Codex CLIs (pinned, installed from the npm registry into a cache
// outside the project), eight at once through the bundled action, against local stand-ins of
// their model APIs on 127.0.0.1. Run with `npm run test:agents` (not part of `npm test`).
// A CLI that cannot be installed or started here is skipped with the reason in the test name.
import { afterEach, describe, expect, test } from '@jest/globals'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { PRESETS } from '../../src/core/agents/presets/index.js'
import { installCli, type CliName } from '../../test-support/agent-clis.js'
import { git } from '../../test-support/git-fixtures.js'
import { AnthropicStandIn } from '../../test-support/model-apis/anthropic.js'
import { defaultFileFor, type ModelApiStandIn } from '../../test-support/model-apis/common.js'
import { GeminiStandIn } from '../../test-support/model-apis/gemini.js'
import { OpenAIStandIn } from '../../test-support/model-apis/openai.js'
import { RefusingProxy } from '../../test-support/model-apis/proxy.js'
import { LoopbackBridge, netnsAvailable, portOf } from '../../test-support/netns.js'
import type { RunActionResult } from '../../test-support/run-action.js'
import {
  act,
  FILES,
  INTEGRATION,
  PREFIX,
  showOnOrigin,
  statusComments,
  statuses,
  tasksOutput,
  useCleanup,
  world,
  type ActOptions,
  type World
} from '../adversarial/support.js'

useCleanup()
const stopping: { stop(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(stopping.splice(0).map((s) => s.stop()))
})

const IDS = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8']
const ISSUE_BODY = [
  'Eight small files, one per task.',
  '',
  ...IDS.map((id) => `- [ ] ${id}: Create the file of task ${id}`)
].join('\n')
/** What a CLI prints when parallel copies of it share state (the failures this guards against). */
const SHARED_STATE_TROUBLE =
  /Lock file is already being held|database is locked|Directory not empty|corrupt(ed)? (config|file|json)|ELOCKED/i

// Installed once for the whole suite, both at once (10-30 s each when not cached yet).
const [claude, codex, gemini, netns] = await Promise.all([
  installCli('claude-code'),
  installCli('codex'),
  installCli('gemini'),
  netnsAvailable()
])
const installed = { 'claude-code': claude, codex, gemini } as const
// No connection outside 127.0.0.1, enforced: the action and its agents run in a network
// namespace whose only interface is its own loopback, the stand-ins bridged in (netns.ts). The
// refusing proxy still records what a CLI tried to reach beyond them. Where no namespace can be
// made (not root), the proxy alone watches, and the log says so.
if (!netns.ok) console.warn(`real-CLI suite: no network namespace (${netns.reason}); proxy only`)

/** The action run for `w`, inside a fresh network namespace when one can be made here. */
async function actIsolated(w: World, urls: string[], opts: ActOptions): Promise<RunActionResult> {
  if (!netns.ok) return act(w, '', opts)
  const bridge = await LoopbackBridge.start([w.api.url, ...urls].map(portOf))
  try {
    return await act(w, '', { ...opts, wrap: (command, args) => bridge.wrap(command, args) })
  } finally {
    await bridge.stop()
  }
}

/** A task's lines of the action's log (its agent's output), prefix removed. */
function taskLog(r: RunActionResult, id: string): string {
  return r.stdout
    .split('\n')
    .filter((line) => line.startsWith(`[${id}] `))
    .map((line) => line.slice(id.length + 3))
    .join('\n')
}

interface Case {
  cli: CliName
  /** The step's env: the key (under the name a user would set) and where the API is. */
  env: (api: ModelApiStandIn, key: string) => Record<string, string>
  args: (api: ModelApiStandIn) => string
  start: (key: string) => Promise<ModelApiStandIn>
  /** How the key must arrive at the API. */
  sentKey: (headers: Record<string, unknown>) => unknown
  /** agent-args and env that make the CLI give up quickly on a 429 (it retries on its own). */
  impatient?: (api: ModelApiStandIn) => { args: string; env: Record<string, string> }
  /** Why the 429 cases cannot run for this CLI (no way to make it give up quickly). */
  noImpatience?: string
  /** Model calls per task: the tool call and the final answer, and any side calls. */
  answers: number
  /** The cost the CLI itself printed in a task's log (undefined: it prices nothing). */
  cost: (log: string) => number | undefined
}

const CASES: Case[] = [
  {
    cli: 'claude-code',
    env: (api, key) => ({ ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: api.origin }),
    args: () => '',
    start: (key) => AnthropicStandIn.start({ apiKey: key }),
    sentKey: (headers) => headers['x-api-key'],
    impatient: () => ({ args: '', env: { CLAUDE_CODE_MAX_RETRIES: '0' } }),
    answers: 2,
    cost: (log) => {
      const results = log.split('\n').filter((line) => line.includes('"type":"result"'))
      return (JSON.parse(results.at(-1)!) as { total_cost_usd: number }).total_cost_usd
    }
  },
  {
    cli: 'codex',
    // Only OPENAI_API_KEY, as the README's old recipe had it: the preset hands it to Codex as
    // CODEX_API_KEY (without that, Codex sends no Authorization header at all).
    env: (_api, key) => ({ OPENAI_API_KEY: key }),
    args: (api) => `-c 'openai_base_url="${api.origin}/v1"'`,
    start: (key) => OpenAIStandIn.start({ apiKey: key }),
    sentKey: (headers) => headers.authorization,
    // Retry counts are settable on a provider of one's own only (HTTP, no WebSocket).
    impatient: (api) => ({
      args: `-c model_provider=standin -c 'model_providers.standin={name="standin",base_url="${api.origin}/v1",wire_api="responses",env_key="CODEX_API_KEY",supports_websockets=false,request_max_retries=0,stream_max_retries=0}'`,
      env: {}
    }),
    answers: 2,
    cost: () => undefined
  },
  {
    cli: 'gemini',
    env: (api, key) => ({ GEMINI_API_KEY: key, GOOGLE_GEMINI_BASE_URL: api.origin }),
    args: () => '',
    start: (key) => GeminiStandIn.start({ apiKey: key }),
    sentKey: (headers) => headers['x-goog-api-key'],
    noImpatience:
      'Gemini CLI 0.61.0 retries a 429 on its own for minutes, and neither its command line nor its environment lowers that (a run against a stand-in answering 429 was still retrying after 120 s)',
    // A routing call (which model to use) before the tool call and the final answer.
    answers: 3,
    cost: () => undefined
  }
]

describe.each(CASES)('agent: $cli, the real CLI', (c) => {
  const cli = installed[c.cli]
  if (cli.ok)
    // eslint-disable-next-line jest/expect-expect -- the assertions are in eightAtOnce
    test(
      `${c.cli} ${cli.version}: eight tasks at once, each merged with exactly its file, isolated, nothing but 127.0.0.1`,
      () => eightAtOnce(c, cli.binDir),
      300_000
    )
  // Skipped, not passed, with the reason in its name, where the CLI cannot be installed or run.
  // eslint-disable-next-line jest/no-disabled-tests, jest/expect-expect
  else test.skip(`${c.cli}: SKIPPED, the CLI is not usable here: ${cli.reason}`, () => {})
  const impatient = c.impatient
  if (cli.ok && impatient) {
    const cc = { ...c, impatient }
    // eslint-disable-next-line jest/expect-expect -- the assertions are in rateLimited
    test(`${c.cli} ${cli.version}: a 429 it gives up on fails the task, and the preset calls it transient`, () =>
      rateLimited(cc, cli.binDir))
    // eslint-disable-next-line jest/expect-expect -- the assertions are in retried
    test(`${c.cli} ${cli.version}: a 429 ends the first attempt; the retry in a fresh worktree succeeds`, () =>
      retried(cc, cli.binDir))
  } else if (cli.ok)
    // eslint-disable-next-line jest/no-disabled-tests, jest/expect-expect
    test.skip(`${c.cli}: 429 cases SKIPPED: ${c.noImpatience ?? ''}`, () => {})
})

/** The API answers T1's first attempt with 429s: the CLI gives up, the task starts again. */
async function retried(c: Required<Pick<Case, 'impatient'>> & Case, binDir: string): Promise<void> {
  const key = `sk-test-${c.cli}-0123456789`
  const [w, api, proxy] = await Promise.all([
    world('- [ ] T1: Create the file of task T1\n- [ ] T2: Create the file of task T2\n'),
    c.start(key),
    RefusingProxy.start()
  ])
  stopping.push(api, proxy)
  // Every request of T1's first attempt is refused; the retry works in a worktree of its own
  // (worktrees/T1-attempt2), which the CLI names in its prompt: those requests are answered.
  api.fail({ status: 429, count: 1000, taskId: 'T1', spare: `${path.sep}T1-attempt2` })
  const impatient = c.impatient(api)
  const args = [c.args(api), impatient.args].filter(Boolean).join(' ')
  const r = await actIsolated(w, [api.origin, proxy.url], {
    inputs: { agent: c.cli, 'agent-args': args, 'max-parallel': '2' },
    env: {
      PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
      ...c.env(api, key),
      ...impatient.env,
      ...proxy.env
    },
    timeoutMs: 180_000
  })
  // The reasons first: a failure says what the task went through.
  expect(tasksOutput(r).map((t) => [t.id, t.status, t.reason])).toEqual([
    ['T1', 'merged', undefined],
    ['T2', 'merged', undefined]
  ])
  expect({ exit: r.exitCode, errors: r.errors }).toEqual({ exit: 0, errors: [] })
  const t1 = api.requests.filter((q) => q.taskId === 'T1' && q.method === 'POST')
  expect(t1.filter((q) => q.status === 429).length).toBeGreaterThan(0)
  expect(t1.filter((q) => q.status === 200).length).toBeGreaterThan(0)
  expect(
    tasksOutput(r).map((t) => [t.id, (t as unknown as { attempts: number }).attempts])
  ).toEqual([
    ['T1', 2],
    ['T2', 1]
  ])
  expect(statusComments(w).at(-1)!.body).toContain(
    '2 attempts: rate limited by the model API (429); then succeeded'
  )
  // Only the retry's work is on the branch: exactly its file.
  const changed = await git(
    w.origin.bareDir,
    ['diff', '--name-only', 'main', `${PREFIX}/T1`],
    w.env
  )
  expect(changed.split('\n').filter(Boolean)).toEqual([defaultFileFor('T1').path])
  expect(proxy.attempts).toEqual([])
}

/** The API answers 429 to everything: the task fails, and its log reads as a transient failure. */
async function rateLimited(
  c: Required<Pick<Case, 'impatient'>> & Case,
  binDir: string
): Promise<void> {
  const key = `sk-test-${c.cli}-0123456789`
  const [w, api, proxy] = await Promise.all([
    world('- [ ] T1: Create the file of task T1\n'),
    c.start(key),
    RefusingProxy.start()
  ])
  stopping.push(api, proxy)
  api.fail({ status: 429, count: 1000, retryAfterSeconds: 0 })
  const impatient = c.impatient(api)
  const r = await actIsolated(w, [api.origin, proxy.url], {
    inputs: { agent: c.cli, 'agent-args': impatient.args, 'max-attempts': '1' },
    env: {
      PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
      ...c.env(api, key),
      ...impatient.env,
      ...proxy.env
    },
    timeoutMs: 120_000
  })
  expect(statuses(r)).toEqual([['T1', 'failed']])
  expect(api.requests.filter((q) => q.status === 429).length).toBeGreaterThan(0)
  expect(api.requests.filter((q) => q.status === 200)).toEqual([])
  expect(PRESETS.get(c.cli)!.transient.some((pattern) => pattern.test(taskLog(r, 'T1')))).toBe(true)
  // max-attempts 1: the rate limit is named, and why it was not retried.
  expect(tasksOutput(r)[0].reason).toContain(
    'rate limited by the model API (429); not retried: 1 of max-attempts 1 was used'
  )
  expect(proxy.attempts).toEqual([])
}

async function eightAtOnce(c: Case, binDir: string): Promise<void> {
  const key = `sk-test-${c.cli}-0123456789`
  const [w, api, proxy] = await Promise.all([
    world(ISSUE_BODY),
    c.start(key),
    RefusingProxy.start()
  ])
  stopping.push(api, proxy)
  const r = await actIsolated(w, [api.origin, proxy.url], {
    inputs: { agent: c.cli, 'agent-args': c.args(api), 'max-parallel': '8' },
    env: {
      PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
      ...c.env(api, key),
      ...proxy.env
    },
    timeoutMs: 240_000
  })
  const log = r.stdout + r.stderr
  expect({ exit: r.exitCode, errors: r.errors }).toEqual({ exit: 0, errors: [] })
  expect(statuses(r)).toEqual(IDS.map((id) => [id, 'merged']))

  // Exactly the base's files and one file per task: no tool state in any commit.
  const tree = await git(w.origin.bareDir, ['ls-tree', '-r', '--name-only', INTEGRATION], w.env)
  expect(tree.split('\n').filter(Boolean).sort()).toEqual(
    [...Object.keys(FILES), ...IDS.map((id) => defaultFileFor(id).path)].sort()
  )
  for (const id of IDS) {
    const file = defaultFileFor(id)
    expect(await showOnOrigin(w, INTEGRATION, file.path)).toBe(file.content.trimEnd())
    const changed = await git(
      w.origin.bareDir,
      ['diff', '--name-only', 'main', `${PREFIX}/${id}`],
      w.env
    )
    expect([id, changed.split('\n').filter(Boolean)]).toEqual([id, [file.path]])
  }

  // Private state per task, gone afterwards; the runner's HOME untouched by the CLIs.
  expect(log).not.toMatch(SHARED_STATE_TROUBLE)
  const stateDir = path.join(r.runnerTemp, 'agent-fanout', 'issue-12', 'agent-state')
  expect(await readdir(stateDir).catch(() => [])).toEqual([])
  expect(await readdir(r.childEnv.HOME)).toEqual([])

  // Every request reached the stand-in with the key, none went anywhere else.
  expect(proxy.attempts).toEqual([])
  const answered = api.requests.filter((q) => q.method === 'POST')
  expect(answered.filter((q) => q.status !== 200).map((q) => `${q.status} ${q.answer}`)).toEqual([])
  for (const q of answered) expect(String(c.sentKey(q.headers))).toContain(key)
  for (const id of IDS) expect([id, api.billed(id).answers]).toEqual([id, c.answers])

  // Cost and tokens as the stand-in billed them: tokens from its usage, the cost the CLI
  // computed from them with its own prices (Claude Code's total_cost_usd; Codex prices nothing).
  const figures = tasksOutput(r) as unknown as Record<string, unknown>[]
  for (const id of IDS) {
    const billed = api.billed(id)
    const reported = figures.find((t) => t.id === id)!
    expect([id, reported.inputTokens, reported.outputTokens]).toEqual([
      id,
      billed.inputTokens,
      billed.outputTokens
    ])
    expect([id, reported.costUsd]).toEqual([id, c.cost(taskLog(r, id))])
  }
  const costs = figures.map((t) => t.costUsd as number | undefined)
  const total = costs.every((cost) => cost === undefined)
    ? ''
    : String(Math.round(costs.reduce<number>((sum, cost) => sum + (cost ?? 0), 0) * 1e8) / 1e8)
  expect(r.outputs['total-cost-usd']).toBe(total)
  const comment = statusComments(w).at(-1)!.body
  const billedIn = IDS.reduce((sum, id) => sum + api.billed(id).inputTokens, 0)
  expect(comment).toContain(`tokens: ${billedIn.toLocaleString('en-US')} in`)
}

describe('agent: claude-code, refused tool calls', () => {
  if (claude.ok)
    test(`claude-code ${claude.version}: a command acceptEdits refuses is reported, the task still merged`, async () => {
      const key = 'sk-test-claude-code-0123456789'
      const [w, api, proxy] = await Promise.all([
        world('- [ ] T1: Create the file of task T1\n'),
        AnthropicStandIn.start({ apiKey: key, bash: () => ['npm test'] }),
        RefusingProxy.start()
      ])
      stopping.push(api, proxy)
      const r = await actIsolated(w, [api.origin, proxy.url], {
        inputs: { agent: 'claude-code' },
        env: {
          PATH: `${claude.binDir}${path.delimiter}${process.env.PATH ?? ''}`,
          ANTHROPIC_API_KEY: key,
          ANTHROPIC_BASE_URL: api.origin,
          ...proxy.env
        },
        timeoutMs: 120_000
      })
      expect(statuses(r)).toEqual([['T1', 'merged']])
      const comment = statusComments(w).at(-1)!.body
      expect(comment).toContain(
        'its CLI refused 1 tool call for lack of permission (the work may be incomplete): `Bash: npm test`'
      )
      expect(comment).toContain('its agent CLI refused 1 tool call(s) for lack of permission')
      expect(r.stdout).toMatch(/::warning::.*refused 1 tool call\(s\)/)
    })
  // eslint-disable-next-line jest/no-disabled-tests, jest/expect-expect
  else test.skip(`claude-code: SKIPPED, the CLI is not usable here`, () => {})
})

describe('agent presets: the key is checked before anything starts', () => {
  test.each([
    ['claude-code', 'ANTHROPIC_API_KEY'],
    ['codex', 'CODEX_API_KEY or OPENAI_API_KEY'],
    ['gemini', 'GEMINI_API_KEY or GOOGLE_API_KEY']
  ])('agent: %s without its key fails at once, naming %s', async (agent, variables) => {
    const w = await world(ISSUE_BODY)
    const r = await act(w, '', { inputs: { agent } })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(variables)
    // Nothing was started: no branch but main on the origin, no status comment.
    const branches = await git(
      w.origin.bareDir,
      ['for-each-ref', '--format=%(refname:short)'],
      w.env
    )
    expect(branches.split('\n').filter(Boolean)).toEqual(['main'])
  })
})
