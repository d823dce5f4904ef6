import { describe, expect, it } from '@jest/globals'
import { settleWaiting, waitingResult, waitingTasks } from '../src/core/run/rounds.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { TaskResult, TaskStatus } from '../src/core/types.js'

const tasks = parseTaskList(
  [
    '- [x] T0: done',
    '- [ ] T3: three (after T2)',
    '- [ ] T1: one (after T0)',
    '- [ ] T2: two (after T1)',
    '- [ ] T4: four',
    '- [ ] T5: five (after T4)',
    '- [ ] T6: six (after T5)'
  ].join('\n')
).tasks

describe('matrix rounds', () => {
  it('holds back every task that builds on a task of this round, transitively; a checked or reused dependency does not hold back', () => {
    const runs = (id: string) => !['T0', 'T4'].includes(id) // T4 was merged before: reused
    expect(Object.fromEntries(waitingTasks(tasks, runs))).toEqual({
      T2: ['T1'],
      T3: ['T2'],
      T6: ['T5']
    })
  })

  it('after the merge: queued for the next run when the dependencies merged, skipped with the chain when not', () => {
    const row = (id: string, status: TaskStatus, reason?: string): TaskResult => ({
      id,
      title: id,
      status,
      branch: `b/${id}`,
      changedFiles: [],
      durationMs: 0,
      ...(reason ? { reason } : {})
    })
    const results = new Map<string, TaskResult>([
      ['T0', row('T0', 'skipped', 'checked in the issue (done)')],
      ['T1', row('T1', 'merged')],
      ['T2', waitingResult(tasks[3], 'b/T2', ['T1'])],
      ['T3', waitingResult(tasks[1], 'b/T3', ['T2'])],
      ['T4', row('T4', 'merged')],
      ['T5', row('T5', 'failed', 'agent exited with status 1')],
      ['T6', waitingResult(tasks[6], 'b/T6', ['T5'])]
    ])
    expect(results.get('T3')!.reason).toBe(
      'waits for T2: it starts in the next run, from their merged work'
    )
    const ready = settleWaiting(tasks, results, new Set(['T2', 'T3', 'T6']))
    expect(ready).toEqual(['T2'])
    const view = (id: string) => [results.get(id)!.status, results.get(id)!.reason]
    expect(view('T2')).toEqual(['queued', 'T1 merged: it starts in the next run'])
    expect(view('T3')).toEqual([
      'queued',
      'waits for T2: it starts in the next run, from their merged work'
    ])
    expect(view('T6')).toEqual(['skipped', 'T5 failed'])
  })
})
