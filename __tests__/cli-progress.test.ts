// The CLI's progress lines, from synthetic run events (core/events.ts) and a clock the test sets.
import { describe, expect, it } from '@jest/globals'
import { clock, progressPrinter } from '../src/cli/progress.js'
import type { TaskResult } from '../src/core/types.js'

const result = (id: string, status: TaskResult['status'], extra: Partial<TaskResult> = {}) =>
  ({
    id,
    title: id,
    status,
    branch: `b/${id}`,
    changedFiles: [],
    durationMs: 1500,
    ...extra
  }) as TaskResult

describe('progressPrinter', () => {
  it('says what starts, each result the moment it comes, done of total and the time since the start', () => {
    let t = 1_000_000
    const lines: string[] = []
    const p = progressPrinter(
      (l) => lines.push(l),
      () => t
    )
    p.watch({
      kind: 'planned',
      at: t,
      tasks: [
        { id: 'T1', title: 'First', action: 'run', dependsOn: [] },
        { id: 'T2', title: 'Second', action: 'run', dependsOn: [] },
        { id: 'T3', title: 'Old', action: 'reuse', dependsOn: [] }
      ]
    })
    p.watch({ kind: 'started', at: t, taskId: 'T1', attempt: 1 })
    p.watch({ kind: 'started', at: t, taskId: 'T2', attempt: 1 })
    t += 5_000
    p.tick() // said something 5 s ago: quiet
    t += 20_000
    p.tick()
    p.watch({
      kind: 'finished',
      at: t,
      result: result('T2', 'failed', { reason: 'agent exited with 3' })
    })
    t += 40_000
    p.watch({
      kind: 'finished',
      at: t,
      result: result('T1', 'ready', { changedFiles: ['a', 'b'] })
    })
    // Judging T1's work later says the same: not repeated; a changed verdict is said.
    p.watch({
      kind: 'finished',
      at: t,
      result: result('T1', 'ready', { changedFiles: ['a', 'b'] })
    })
    p.watch({
      kind: 'finished',
      at: t,
      result: result('T2', 'failed', { reason: 'touched a workflow' })
    })
    p.watch({ kind: 'integrating', at: t })
    p.watch({
      kind: 'done',
      at: t,
      tasks: [result('T1', 'merged'), result('T2', 'failed'), result('T3', 'merged')]
    })
    expect(lines).toEqual([
      '[0/2 0:00] 2 tasks to run; T3 reused from an earlier run',
      '[0/2 0:00] T1 started: First',
      '[0/2 0:00] T2 started: Second',
      '[0/2 0:25] running: T1 (0:25), T2 (0:25)',
      '[1/2 0:25] T2 ✗ failed after 1.5s: agent exited with 3',
      '[2/2 1:05] T1 ✓ done in 1.5s, 2 files changed',
      '[2/2 1:05] T2 ✗ failed after 1.5s: touched a workflow',
      '[2/2 1:05] all agents are done: merging the task branches',
      '[2/2 1:05] finished: 2 merged, 1 failed'
    ])
  })

  it('keeps escape sequences from task titles and reasons off the terminal', () => {
    const lines: string[] = []
    const p = progressPrinter(
      (l) => lines.push(l),
      () => 0
    )
    p.watch({
      kind: 'planned',
      at: 0,
      tasks: [{ id: 'T1', title: 'x\x1b]0;pwned\x07y\x1b[2J', action: 'run', dependsOn: [] }]
    })
    p.watch({ kind: 'started', at: 0, taskId: 'T1', attempt: 2 })
    p.watch({
      kind: 'finished',
      at: 0,
      result: result('T1', 'failed', { reason: 'bad\x9b31mred\rX' })
    })
    expect(lines.slice(1)).toEqual([
      '[0/1 0:00] T1 started (attempt 2): xy',
      '[1/1 0:00] T1 ✗ failed after 1.5s: badred X'
    ])
    // eslint-disable-next-line no-control-regex
    expect(lines.join('')).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
  })

  it('writes elapsed time as m:ss, and h:mm:ss past an hour', () => {
    expect([clock(0), clock(59_999), clock(61_000), clock(3_725_000)]).toEqual([
      '0:00',
      '0:59',
      '1:01',
      '1:02:05'
    ])
  })
})
