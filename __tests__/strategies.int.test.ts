// Conflict strategies and the verify command, with real git and real agent processes.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import path from 'node:path'
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

async function fanout(issue: string, agent: string, extra: Partial<EngineOptions>) {
  const origin = await createOrigin({
    'NOTES.md': '# Notes\n\nEntries:\n\nend\n',
    'check.sh': 'exit 0\n'
  })
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('strategies')
  const g = new Git(workspace, { env, identity: { name: 'T', email: 't@test.invalid' } })
  const baseSha = await g.out(['rev-parse', 'HEAD'])
  const logger = memoryLogger()
  const result: FanoutResult = await runFanout({
    git: g,
    logger,
    issue: { number: 3, title: 'Strategies' },
    tasks: parseTaskList(issue).tasks,
    baseBranch: 'main',
    baseSha,
    agentCommand: agent,
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 300,
    branchPrefix: 'fanout/issue-3',
    workDir: path.join(scratch, 'work'),
    identity: { name: 'T', email: 't@test.invalid' },
    agentBaseEnv: { ...env, SCRATCH: scratch },
    secrets: [],
    ...extra
  })
  const show = (ref: string) => git(workspace, ['show', ref], env)
  return { result, show, workspace, env, scratch, baseSha, log: logger.lines }
}

// Every task adds its own line right after "Entries:": two tasks from the same base conflict.
const ADD_ENTRY =
  'sed -i "/^Entries:/a - entry from $TASK_ID ($TASK_MODE)" NOTES.md; touch "$SCRATCH/ran-$TASK_ID-$TASK_MODE"'
const status = (r: FanoutResult, id: string) => r.tasks.find((t) => t.id === id)!

describe('conflict strategies', () => {
  it('rerun: re-executes the conflicting task on the integration branch and merges it', async () => {
    const { result, show, scratch, workspace, env } = await fanout(
      '- [ ] one\n- [ ] two\n',
      ADD_ENTRY,
      { conflictStrategies: ['rerun', 'report'] }
    )
    expect(status(result, 'T1').status).toBe('merged')
    expect(status(result, 'T2').status).toBe('merged-after-rerun')
    expect(status(result, 'T2').attempts).toEqual([
      { strategy: 'rerun', outcome: 're-run 1 on the integration branch merged cleanly' }
    ])
    expect(existsSync(path.join(scratch, 'ran-T2-rerun'))).toBe(true)
    const notes = await show('fanout/issue-3/integration:NOTES.md')
    expect(notes).toContain('- entry from T1 (run)')
    expect(notes).toContain('- entry from T2 (rerun)')
    // The task branch now holds the re-run, which starts from T1's merge.
    const parent = await git(workspace, ['rev-parse', 'fanout/issue-3/T2^'], env)
    expect(await git(workspace, ['log', '--format=%s', '-1', parent], env)).toBe(
      'Merge task T1: one'
    )
  })

  it('agent: accepts a resolve command that removes every marker and commits', async () => {
    const resolve =
      'for f in $CONFLICT_FILES; do sed -i "/^<<<<<<< /d;/^=======$/d;/^>>>>>>> /d" "$f"; done; git add -A; git commit -qm "resolved $TASK_ID"'
    const { result, show, workspace, env } = await fanout(
      '- [ ] one\n- [ ] two\n- [ ] three\n',
      ADD_ENTRY,
      {
        conflictStrategies: ['agent', 'report'],
        resolveCommand: resolve
      }
    )
    expect(result.tasks.map((t) => t.status)).toEqual([
      'merged',
      'merged-after-resolve',
      'merged-after-resolve'
    ])
    const notes = await show('fanout/issue-3/integration:NOTES.md')
    expect(notes).not.toMatch(/<<<<<<<|>>>>>>>/)
    for (const id of ['T1', 'T2', 'T3']) expect(notes).toContain(`- entry from ${id} (run)`)
    // Still one merge commit per task on the first-parent chain.
    const subjects = await git(
      workspace,
      ['log', '--first-parent', '--format=%s', `${result.baseSha}..fanout/issue-3/integration`],
      env
    )
    expect(subjects.split('\n')).toHaveLength(3)
  })

  it('agent: a resolve command that leaves the markers falls through to report', async () => {
    const { result, show } = await fanout('- [ ] one\n- [ ] two\n', ADD_ENTRY, {
      conflictStrategies: ['agent', 'report'],
      resolveCommand: 'echo "I looked at $CONFLICT_FILES and gave up"'
    })
    const t2 = status(result, 'T2')
    expect(t2.status).toBe('conflicted')
    expect(t2.attempts?.map((a) => a.strategy)).toEqual(['agent', 'report'])
    expect(t2.attempts?.[0].outcome).toMatch(/conflict markers remain in NOTES.md/)
    expect(await show('fanout/issue-3/integration:NOTES.md')).not.toContain('T2')
    expect(await show('fanout/issue-3/T2:NOTES.md')).toContain('entry from T2')
  })

  it('rerun then agent then report, each giving up in turn, says why for each', async () => {
    const agent = 'if [ "$TASK_MODE" = rerun ]; then exit 9; fi; ' + ADD_ENTRY
    const { result } = await fanout('- [ ] one\n- [ ] two\n', agent, {
      conflictStrategies: ['rerun', 'agent', 'report'],
      resolveCommand: 'exit 3'
    })
    expect(status(result, 'T2').attempts).toEqual([
      { strategy: 'rerun', outcome: 're-run 1 gave up: agent exited with status 9' },
      {
        strategy: 'agent',
        outcome: 'resolve command gave up: resolve command exited with status 3'
      },
      { strategy: 'report', outcome: 'left out of the integration branch for a human to merge' }
    ])
  })
})

describe('verify command', () => {
  it('verify: each takes out only the task whose merge breaks the check', async () => {
    const agent =
      'echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T2 ]; then echo "exit 1 # T2 broke it" > check.sh; fi'
    const { result, show } = await fanout(
      '- [ ] one\n- [ ] breaks the build\n- [ ] three\n',
      agent,
      { verify: { command: 'echo checking; bash check.sh', mode: 'each' } }
    )
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'broke-verify', 'merged'])
    expect(status(result, 'T2').verifyTail).toContain('checking')
    expect(await show('fanout/issue-3/integration:T3.txt')).toBe('T3')
    expect(await show('fanout/issue-3/integration:check.sh')).toBe('exit 0')
    await expect(show('fanout/issue-3/integration:T2.txt')).rejects.toThrow()
    // Its work is kept on its branch for review.
    expect(await show('fanout/issue-3/T2:check.sh')).toContain('T2 broke it')
  })

  it('verify: final runs once on the result and reports the verdict', async () => {
    const agent = 'echo "$TASK_ID" > "$TASK_ID.txt"'
    const ok = await fanout('- [ ] one\n- [ ] two\n', agent, {
      verify: { command: 'test -f T1.txt && test -f T2.txt', mode: 'final' }
    })
    expect(ok.result.verify).toMatchObject({ mode: 'final', ok: true })
    const bad = await fanout('- [ ] one\n', agent, {
      verify: { command: 'echo "missing T9"; test -f T9.txt', mode: 'final' }
    })
    expect(bad.result.verify).toMatchObject({ mode: 'final', ok: false, exitCode: 1 })
    expect(bad.result.verify?.tail).toContain('missing T9')
    expect(bad.result.tasks[0].status).toBe('merged')
  })
})
