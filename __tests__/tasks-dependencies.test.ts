import { describe, expect, it } from '@jest/globals'
import { dependencyOrder } from '../src/core/tasks/dependencies.js'
import { parseTaskList, TaskListError } from '../src/core/tasks/parse.js'
import type { Task } from '../src/core/types.js'

const md = (lines: string[]): string => lines.join('\n')
const tasksOf = (markdown: string): Task[] => parseTaskList(markdown).tasks
const deps = (markdown: string): Record<string, string[] | undefined> =>
  Object.fromEntries(tasksOf(markdown).map((t) => [t.id, t.dependsOn]))
const errorOf = (markdown: string): Error => {
  try {
    parseTaskList(markdown)
  } catch (error) {
    return error as Error
  }
  throw new Error('expected parseTaskList to throw')
}

describe('task dependencies: syntax', () => {
  it('reads "(after T1)" and "(after T1, T2)" at the end of the first line and removes it from the title', () => {
    const tasks = tasksOf(
      md([
        '- [ ] T1: Add the model',
        '- [ ] T2: Add the store (after T1)',
        '- [ ] T3: Add the endpoint (after T1, T2)',
        '- [ ] Add the docs (After T3 and T2)'
      ])
    )
    expect(tasks.map((t) => [t.id, t.title, t.dependsOn])).toEqual([
      ['T1', 'Add the model', undefined],
      ['T2', 'Add the store', ['T1']],
      ['T3', 'Add the endpoint', ['T1', 'T2']],
      ['T4', 'Add the docs', ['T3', 'T2']]
    ])
  })

  it('reads "depends on:" on a nested line, a paragraph or a nested item, and keeps it in the body', () => {
    const tasks = tasksOf(
      md([
        '- [ ] T1: one',
        '- [ ] T2: two',
        '  depends on: T1',
        '- [ ] T3: three',
        '',
        '  Depends on: T1, T2',
        '- [ ] T4: four',
        '  - use the new store',
        '  - depends on: T3'
      ])
    )
    expect(tasks.map((t) => t.dependsOn)).toEqual([undefined, ['T1'], ['T1', 'T2'], ['T3']])
    expect(tasks[1].body).toBe('depends on: T1')
    expect(tasks[1].title).toBe('two')
  })

  it('combines both forms, matches IDs ignoring case and keeps each once', () => {
    expect(
      deps(
        md([
          '- [ ] T1: one',
          '- [ ] Api-2: two',
          '- [ ] T3: three (after t1)',
          '  depends on: API-2, T1'
        ])
      )
    ).toEqual({ T1: undefined, 'Api-2': undefined, T3: ['T1', 'Api-2'] })
  })

  it('leaves prose in parentheses, code and escaped clauses in the title', () => {
    const tasks = tasksOf(
      md([
        '- [ ] T1: Ship it (after lunch)',
        '- [ ] T2: Mention `(after T1)` in the docs',
        '- [ ] T3: Write \\(after T1) literally',
        '- [ ] T4: Emphasis *(after T1)*',
        '- [ ] T5: (after T1) is not at the end'
      ])
    )
    expect(tasks.map((t) => t.title)).toEqual([
      'Ship it (after lunch)',
      'Mention `(after T1)` in the docs',
      'Write \\(after T1) literally',
      'Emphasis *(after T1)*',
      '(after T1) is not at the end'
    ])
    expect(tasks.every((t) => t.dependsOn === undefined)).toBe(true)
  })

  it('does not read "depends on:" in code blocks, nested checkboxes or the first line', () => {
    expect(
      deps(
        md([
          '- [ ] T1: one',
          '- [ ] T2: depends on: T1',
          '- [ ] T3: three',
          '  ```',
          '  depends on: T1',
          '  ```',
          '  - [ ] depends on: T1'
        ])
      )
    ).toEqual({ T1: undefined, T2: undefined, T3: undefined })
  })

  it('keeps a dependency on a checked task (it counts as satisfied when the run starts)', () => {
    expect(deps(md(['- [x] T1: done already', '- [ ] T2: two (after T1)']))).toEqual({
      T1: undefined,
      T2: ['T1']
    })
  })
})

describe('task dependencies: errors before anything starts', () => {
  it('names an unknown ID and the tasks there are', () => {
    const error = errorOf(md(['- [ ] T1: one', '- [ ] T2: two (after T9)']))
    expect(error).toBeInstanceOf(TaskListError)
    expect(error.message).toBe(
      'Task T2 depends on "T9", which is not a task of this list (its tasks: T1, T2).'
    )
  })

  it('names a task that depends on itself', () => {
    expect(errorOf(md(['- [ ] T1: one', '  depends on: t1'])).message).toBe(
      'Task T1 depends on itself; remove "t1".'
    )
  })

  it('names the tasks of a cycle in order', () => {
    const error = errorOf(
      md(['- [ ] T1: one (after T3)', '- [ ] T2: two', '- [ ] T3: three (after T2, T1)'])
    )
    expect(error).toBeInstanceOf(TaskListError)
    expect(error.message).toBe(
      'Tasks depend on each other in a cycle: T1 → T3 → T1. Remove one of these dependencies.'
    )
  })

  it('names a "depends on:" line without task IDs', () => {
    expect(
      errorOf(md(['- [ ] T1: one', '- [ ] T2: two', '  depends on: the first one'])).message
    ).toBe(
      'Task T2 (item 2) has the line "depends on: the first one", which names no task ID. Write it as "depends on: T1" or "depends on: T1, T2".'
    )
  })
})

describe('dependencyOrder', () => {
  const task = (id: string, dependsOn?: string[]) => ({ id, dependsOn })
  it('keeps list order where it can and puts each task after its dependencies', () => {
    const order = dependencyOrder([
      task('T1', ['T3']),
      task('T2'),
      task('T3', ['T4']),
      task('T4'),
      task('T5', ['T1'])
    ])
    expect(order.map((t) => t.id)).toEqual(['T2', 'T4', 'T3', 'T1', 'T5'])
  })

  it('ignores dependencies on tasks that are not in the list', () => {
    expect(dependencyOrder([task('T2', ['T1']), task('T3')]).map((t) => t.id)).toEqual(['T2', 'T3'])
  })
})
