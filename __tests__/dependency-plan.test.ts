import { describe, expect, it } from '@jest/globals'
import type { TaskPlan } from '../src/core/engine.js'
import { followDependencies } from '../src/core/run/dependency-plan.js'
import { parseTaskList } from '../src/core/tasks/parse.js'

const tasks = parseTaskList(
  [
    '- [ ] T1: one',
    '- [ ] T2: two (after T1)',
    '- [ ] T3: three (after T2)',
    '- [ ] T4: four',
    '- [ ] T5: five (after T4)'
  ].join('\n')
).tasks
const reuse: TaskPlan = { mode: 'reuse', tip: 'a'.repeat(40), changedFiles: ['x'], durationMs: 1 }
const modes = (plan: Map<string, TaskPlan>) =>
  Object.fromEntries([...plan].map(([id, p]) => [id, p.mode]))

describe('followDependencies', () => {
  it('runs again every task built on a task that runs again (retry T1), and leaves the others reused', () => {
    const plan = new Map<string, TaskPlan>([
      ['T1', { mode: 'run' }],
      ['T2', reuse],
      ['T3', reuse],
      ['T4', reuse],
      ['T5', reuse]
    ])
    const changed = followDependencies(tasks, plan)
    expect(modes(plan)).toEqual({ T1: 'run', T2: 'run', T3: 'run', T4: 'reuse', T5: 'reuse' })
    expect(changed).toEqual([
      { id: 'T2', mode: 'run', because: 'T1 run(s) again' },
      { id: 'T3', mode: 'run', because: 'T2 run(s) again' }
    ])
  })

  it('drops the tasks built on a dropped task with it, and runs a kept one when its dependency is retried', () => {
    const plan = new Map<string, TaskPlan>([
      ['T1', reuse],
      ['T2', reuse],
      ['T3', reuse],
      ['T4', { mode: 'drop' }],
      ['T5', reuse]
    ])
    followDependencies(tasks, plan)
    expect(modes(plan)).toEqual({ T1: 'reuse', T2: 'reuse', T3: 'reuse', T4: 'drop', T5: 'drop' })

    const retry = new Map<string, TaskPlan>([
      ['T4', { mode: 'run' }],
      [
        'T5',
        {
          mode: 'keep',
          result: {
            id: 'T5',
            title: 'five',
            status: 'skipped',
            branch: 'b',
            changedFiles: [],
            durationMs: 0
          }
        }
      ]
    ])
    followDependencies(tasks, retry)
    expect(modes(retry)).toEqual({ T4: 'run', T5: 'run' })
  })

  it('leaves a branch holding commits by people as it is', () => {
    const plan = new Map<string, TaskPlan>([
      ['T1', { mode: 'run' }],
      ['T2', { ...reuse, byPeople: 'holds commits by people' } as TaskPlan]
    ])
    expect(followDependencies(tasks, plan)).toEqual([])
    expect(plan.get('T2')!.mode).toBe('reuse')
  })
})
