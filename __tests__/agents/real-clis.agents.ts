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
import { OpenAIStandIn } from '../../test-support/model-apis/openai.js'
import { RefusingProxy } from '../../test-support/model-apis/proxy.js'
import {
  act,
  FILES,
  INTEGRATION,
  PREFIX,
  showOnOrigin,
  statuses,
  useCleanup,
  world
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
const [claude, codex] = await Promise.all([installCli('claude-code'), installCli('codex')])
const installed = { 'claude-code': claude, codex } as const

interface Case {
  cli: CliName
  /** The step's env: the key (under the name a user would set) and where the API is. */
  env: (api: ModelApiStandIn, key: string) => Record<string, string>
  args: (api: ModelApiStandIn) => string
  start: (key: string) => Promise<ModelApiStandIn>
  /** How the key must arrive at the API. */
  sentKey: (headers: Record<string, unknown>) => unknown
  /** agent-args and env that make the CLI give up quickly on a 429 (it retries on its own). */
  impatient: (api: ModelApiStandIn) => { args: string; env: Record<string, string> }
}

const CASES: Case[] = [
  {
    cli: 'claude-code',
    env: (api, key) => ({ ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: api.origin }),
    args: () => '',
    start: (key) => AnthropicStandIn.start({ apiKey: key }),
    sentKey: (headers) => headers['x-api-key'],
    impatient: () => ({ args: '', env: { CLAUDE_CODE_MAX_RETRIES: '0' } })
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
    })
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
  if (cli.ok)
    // eslint-disable-next-line jest/expect-expect -- the assertions are in rateLimited
    test(`${c.cli} ${cli.version}: a 429 it gives up on fails the task, and the preset calls it transient`, () =>
      rateLimited(c, cli.binDir))
})

/** The API answers 429 to everything: the task fails, and its log reads as a transient failure. */
async function rateLimited(c: Case, binDir: string): Promise<void> {
  const key = `sk-test-${c.cli}-0123456789`
  const [w, api, proxy] = await Promise.all([
    world('- [ ] T1: Create the file of task T1\n'),
    c.start(key),
    RefusingProxy.start()
  ])
  stopping.push(api, proxy)
  api.fail({ status: 429, count: 1000, retryAfterSeconds: 0 })
  const impatient = c.impatient(api)
  const r = await act(w, '', {
    inputs: { agent: c.cli, 'agent-args': impatient.args },
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
  const taskLog = r.stdout
    .split('\n')
    .filter((line) => line.startsWith('[T1] '))
    .join('\n')
  expect(PRESETS.get(c.cli)!.transient.some((pattern) => pattern.test(taskLog))).toBe(true)
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
  const r = await act(w, '', {
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
  for (const id of IDS) expect([id, api.billed(id).answers]).toEqual([id, 2])
}

describe('agent presets: the key is checked before anything starts', () => {
  test.each([
    ['claude-code', 'ANTHROPIC_API_KEY'],
    ['codex', 'CODEX_API_KEY or OPENAI_API_KEY']
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
