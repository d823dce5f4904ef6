// Retries, pacing, the cost cap and the agents' reports through the engine, with real git and
// scripted agents (bash): what a user would check on the task branches and in the results.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PRESETS } from '../src/core/agents/presets/index.js'
import { runFanout, type EngineOptions } from '../src/core/engine.js'
import { Git } from '../src/core/git/git.js'
import { memoryLogger } from '../src/core/logger.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { FanoutResult } from '../src/core/types.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-output')

interface Setup {
  workspace: string
  env: NodeJS.ProcessEnv
  git: Git
  baseSha: string
  scratch: string
}

async function setup(
  files: Record<string, string> = { 'README.md': '# Sample\n' }
): Promise<Setup> {
  const origin = await createOrigin(files)
  const workspace = await cloneWorkspace(origin)
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('scratch')
  const g = new Git(workspace, { env, identity: { name: 'T', email: 't@test.invalid' } })
  return { workspace, env, git: g, baseSha: await g.out(['rev-parse', 'HEAD']), scratch }
}

async function fanout(
  s: Setup,
  issue: string,
  agentCommand: string,
  extra: Partial<EngineOptions> = {}
): Promise<FanoutResult & { log: string[] }> {
  const logger = memoryLogger()
  const result = await runFanout({
    git: s.git,
    logger,
    issue: { number: 7, title: 'Test issue' },
    tasks: parseTaskList(issue).tasks,
    baseBranch: 'main',
    baseSha: s.baseSha,
    agentCommand,
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 500,
    branchPrefix: 'fanout/issue-7',
    workDir: path.join(s.scratch, 'work'),
    identity: { name: 'T', email: 't@test.invalid' },
    agentBaseEnv: { ...s.env, SCRATCH: s.scratch, FIXTURES },
    secrets: [],
    retryDelay: { baseDelayMs: 20, maxDelayMs: 40 },
    ...extra
  })
  return { ...result, log: logger.lines }
}

const byId = (r: FanoutResult, id: string) => r.tasks.find((t) => t.id === id)!
const tree = (s: Setup, ref: string) =>
  git(s.workspace, ['ls-tree', '-r', '--name-only', ref], s.env).then((t) =>
    t.split('\n').filter(Boolean)
  )

/** Counts its starts per task in $SCRATCH; `fail` decides from the count (bash) how to end. */
const countedAgent = (fail: string): string =>
  `n=$(( $(cat "$SCRATCH/n-$TASK_ID" 2>/dev/null || echo 0) + 1 )); echo $n > "$SCRATCH/n-$TASK_ID"; ${fail}`

describe('retries after a transient failure', () => {
  it('starts the task again in a fresh worktree after exit 75, and merges only the second attempt', async () => {
    const s = await setup()
    // The first attempt leaves half-done work (a partial file, a commit) and exits 75.
    const agent = countedAgent(
      `if [ $n = 1 ]; then echo partial > half.txt; git add half.txt; git commit -qm half; echo "quota exceeded" >&2; exit 75; fi; ls > "$SCRATCH/seen-$TASK_ID"; echo done > "out-$TASK_ID.txt"`
    )
    const r = await fanout(s, '- [ ] T1: Do it\n- [ ] T2: Other\n', agent)
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(byId(r, 'T1').tries).toEqual([
      { attempt: 1, outcome: 'exit status 75 (temporary failure)' },
      { attempt: 2, outcome: 'succeeded' }
    ])
    // The second attempt started from the base: it did not see the first one's file, and the
    // branch holds only its own work.
    expect(await readFile(path.join(s.scratch, 'seen-T1'), 'utf8')).not.toContain('half.txt')
    expect(await tree(s, 'fanout/issue-7/T1')).toEqual(['README.md', 'out-T1.txt'])
    expect(await tree(s, 'fanout/issue-7/integration')).toEqual([
      'README.md',
      'out-T1.txt',
      'out-T2.txt'
    ])
    expect(r.log.join('\n')).toContain(
      '[T1] exit status 75 (temporary failure): starting attempt 2 of 2 in a fresh worktree'
    )
    // Both attempts' logs are kept on the runner.
    const logs = await readdir(path.join(s.scratch, 'work', 'logs'))
    expect(logs.filter((f) => f.startsWith('T1'))).toEqual(['T1-attempt2.log', 'T1.log'])
  })

  it('does not retry a failure that is not transient', async () => {
    const s = await setup()
    const r = await fanout(s, '- [ ] T1: Do it\n', countedAgent('exit 1'), { maxAttempts: 3 })
    expect(byId(r, 'T1')).toMatchObject({
      status: 'failed',
      reason: 'agent exited with status 1',
      tries: [{ attempt: 1, outcome: 'agent exited with status 1' }]
    })
    expect(await readFile(path.join(s.scratch, 'n-T1'), 'utf8')).toBe('1\n')
  })

  it('stops at max-attempts and says why in the reason', async () => {
    const s = await setup()
    const r = await fanout(s, '- [ ] T1: Do it\n', countedAgent('exit 75'), { maxAttempts: 3 })
    const t1 = byId(r, 'T1')
    expect(t1.status).toBe('failed')
    expect(t1.tries?.map((t) => t.attempt)).toEqual([1, 2, 3])
    expect(t1.reason).toBe(
      'agent exited with status 75 (exit status 75 (temporary failure); not retried: 3 of max-attempts 3 were used)'
    )
    // Nothing of any attempt is left on a branch.
    expect(await git(s.workspace, ['branch', '--list', 'fanout/issue-7/T*'], s.env)).toBe('')
  })

  it("reads a preset CLI's 429 from its output (Claude Code gave up on a rate limit)", async () => {
    const s = await setup()
    const agent = countedAgent(
      `if [ $n = 1 ]; then cat "$FIXTURES/claude-code-2.1.332-429.jsonl"; exit 1; fi; echo ok > "out-$TASK_ID.txt"`
    )
    const r = await fanout(s, '- [ ] T1: Do it\n', agent, {
      agentPreset: PRESETS.get('claude-code')
    })
    expect(byId(r, 'T1').status).toBe('merged')
    expect(byId(r, 'T1').tries?.[0]).toEqual({
      attempt: 1,
      outcome: 'rate limited by the model API (429)'
    })
  })

  it('waits what a Retry-After in the output asks for, not the backoff', async () => {
    const s = await setup()
    const agent = countedAgent(
      `if [ $n = 1 ]; then echo "Retry-After: 1"; exit 75; fi; echo ok > out.txt`
    )
    const r = await fanout(s, '- [ ] T1: Do it\n', agent, {
      retryDelay: { baseDelayMs: 600_000 }
    })
    expect(byId(r, 'T1').status).toBe('merged')
    expect(r.log.join('\n')).toMatch(/starting attempt 2 of 2 in a fresh worktree in 1\.\ds/)
  })
})

describe('pacing and the cost cap', () => {
  it('spaces agent starts by start-interval-seconds', async () => {
    const s = await setup()
    const r = await fanout(
      s,
      '- [ ] T1: a\n- [ ] T2: b\n- [ ] T3: c\n',
      'date +%s%3N > "$SCRATCH/start-$TASK_ID"; echo x > "out-$TASK_ID.txt"',
      { startIntervalMs: 1500 }
    )
    expect(r.tasks.every((t) => t.status === 'merged')).toBe(true)
    const starts = await Promise.all(
      ['T1', 'T2', 'T3'].map(async (id) =>
        Number(await readFile(path.join(s.scratch, `start-${id}`), 'utf8'))
      )
    )
    starts.sort((a, b) => a - b)
    // Paced, the first and third start are two intervals (3 s) apart, less whatever the first
    // spawn took longer than the third; unpaced, all three start at once. One interval tells
    // them apart with room for a loaded machine either way.
    expect(starts[2] - starts[0]).toBeGreaterThanOrEqual(1500)
  })

  it('starts no agent once the reported spend reaches max-cost-usd; the rest are skipped', async () => {
    const s = await setup()
    const agent = `echo '{"summary":"did $TASK_ID","cost_usd":0.6,"input_tokens":100,"output_tokens":10}' > "$TASK_RESULT_FILE"; echo x > "out-$TASK_ID.txt"`
    const r = await fanout(s, '- [ ] T1: a\n- [ ] T2: b\n- [ ] T3: c\n', agent, {
      maxParallel: 1,
      maxCostUsd: 1
    })
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'skipped']
    ])
    expect(byId(r, 'T3').reason).toBe(
      "not started: the run's reported spend $1.20 reached max-cost-usd $1.00"
    )
    expect(existsSync(path.join(s.scratch, 'work', 'logs', 'T3.log'))).toBe(false)
  })
})

describe("the agents' reports", () => {
  it('reads $TASK_RESULT_FILE, written outside the worktree, into the task result', async () => {
    const s = await setup()
    const agent = `echo "$TASK_RESULT_FILE" > "$SCRATCH/where"; printf '%s' '{"summary":"Wrote the file.","cost_usd":0.042,"input_tokens":12000,"output_tokens":800,"model":"m","turns":6}' > "$TASK_RESULT_FILE"; echo x > out.txt`
    const r = await fanout(s, '- [ ] T1: a\n', agent)
    expect(byId(r, 'T1').agentReport).toEqual({
      summary: 'Wrote the file.',
      costUsd: 0.042,
      inputTokens: 12000,
      outputTokens: 800,
      model: 'm',
      turns: 6
    })
    const where = (await readFile(path.join(s.scratch, 'where'), 'utf8')).trim()
    expect(where.startsWith(path.join(s.scratch, 'work'))).toBe(true)
    expect(where).not.toContain('worktrees')
    expect(await tree(s, 'fanout/issue-7/T1')).toEqual(['README.md', 'out.txt'])
  })

  it('adds up the cost of every attempt', async () => {
    const s = await setup()
    const agent = countedAgent(
      `echo '{"cost_usd":0.25,"input_tokens":10}' > "$TASK_RESULT_FILE"; [ $n = 1 ] && exit 75; echo x > out.txt`
    )
    const r = await fanout(s, '- [ ] T1: a\n', agent)
    expect(byId(r, 'T1').agentReport).toEqual({ costUsd: 0.5, inputTokens: 20 })
  })

  it("counts a conflict re-run's cost to its task", async () => {
    const s = await setup({ 'README.md': '# Sample\n', 'log.txt': 'start\n' })
    // Both tasks append to the same file: T2 conflicts and is re-run on the integration branch.
    const agent = `printf '{"cost_usd":0.1,"output_tokens":7}' > "$TASK_RESULT_FILE"; echo "$TASK_ID $TASK_MODE" >> log.txt`
    const r = await fanout(s, '- [ ] T1: a\n- [ ] T2: b\n', agent, {
      conflictStrategies: ['rerun', 'report']
    })
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-after-rerun']
    ])
    expect(byId(r, 'T1').agentReport).toEqual({ costUsd: 0.1, outputTokens: 7 })
    expect(byId(r, 'T2').agentReport).toEqual({ costUsd: 0.2, outputTokens: 14 })
  })

  it("warns of a CLI's refused tool calls and keeps the task's status", async () => {
    const s = await setup()
    const agent = `cat "$FIXTURES/claude-code-2.1.332-denied.jsonl"; echo x > out.txt`
    const r = await fanout(s, '- [ ] T1: a\n', agent, { agentPreset: PRESETS.get('claude-code') })
    expect(byId(r, 'T1').status).toBe('merged')
    expect(byId(r, 'T1').agentReport).toMatchObject({
      costUsd: 0.015,
      permissionDenials: ['Bash: npm test']
    })
    expect(r.warnings).toEqual([
      expect.stringContaining(
        '[T1] its agent CLI refused 1 tool call(s) for lack of permission (Bash: npm test): its work may be incomplete'
      )
    ])
  })
})
