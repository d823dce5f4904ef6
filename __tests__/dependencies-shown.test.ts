// The prompt file and the reports show each task's dependencies.

import { describe, expect, it } from '@jest/globals'
import { renderPrompt } from '../src/core/agents/prompt.js'
import { renderReport } from '../src/core/report/markdown.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { FanoutResult, TaskResult } from '../src/core/types.js'
import { allNodes, parseMarkdown } from '../test-support/markdown-structure.js'

const issue = { number: 3, title: 'Chain' }
const tasks = parseTaskList(
  [
    '- [x] T0: Set up',
    '- [ ] T1: Add the model',
    '- [ ] T2: Add the store (after T1, T0)',
    '- [ ] T3: Add the endpoint (after T2)'
  ].join('\n')
).tasks

describe('the prompt file', () => {
  it('names the tasks a task builds on, with their titles, and says their work is in the worktree', () => {
    const prompt = renderPrompt({
      issue,
      task: tasks[2],
      siblings: tasks,
      branch: 'fanout/issue-3/T2',
      baseBranch: 'main'
    })
    expect(prompt).toContain('## Tasks this one builds on: T1, T0')
    expect(prompt).toContain('with the finished work of these tasks merged in')
    expect(prompt).toContain(
      '- T1: Add the model\n- T0: Set up (done before this run: in the base)'
    )
    // The other tasks' list shows theirs.
    expect(prompt).toContain('- [ ] T3: Add the endpoint (after T2)')
  })

  it('has no such section for a task without dependencies', () => {
    const prompt = renderPrompt({
      issue,
      task: tasks[1],
      siblings: tasks,
      branch: 'fanout/issue-3/T1',
      baseBranch: 'main'
    })
    expect(prompt).not.toContain('builds on')
  })
})

const row = (id: string, extra: Partial<TaskResult>): TaskResult => ({
  id,
  title: `Task ${id}`,
  status: 'merged',
  branch: `fanout/issue-3/${id}`,
  changedFiles: [],
  durationMs: 0,
  ...extra
})

function result(rows: TaskResult[]): FanoutResult {
  return {
    baseBranch: 'main',
    baseSha: 'a'.repeat(40),
    integrationBranch: 'fanout/issue-3/integration',
    integrationSha: 'b'.repeat(40),
    tasks: rows
  }
}

/** The report's task table as rows of cell text, as GitHub would render it. */
function tableOf(markdown: string): string[][] {
  const table = allNodes(parseMarkdown(markdown)).find((n) => n.type === 'table')
  if (table?.type !== 'table') throw new Error('no table')
  return table.children.map((r) =>
    r.children.map((c) =>
      allNodes(c)
        .flatMap((n) => (n.type === 'text' ? [n.value] : []))
        .join('')
    )
  )
}

describe('the report', () => {
  it("has an After column naming each task's dependencies, and the chain of a skipped task", () => {
    const markdown = renderReport(
      result([
        row('T1', { status: 'failed', reason: 'agent exited with status 1' }),
        row('T2', {
          status: 'skipped',
          dependsOn: ['T1'],
          reason: 'T1 failed'
        }),
        row('T3', {
          status: 'skipped',
          dependsOn: ['T2'],
          reason: 'T2 skipped (T1 failed)'
        }),
        row('T4', { changedFiles: ['x'] })
      ]),
      { issueNumber: 3 }
    )
    expect(tableOf(markdown).map((r) => r.slice(0, 4))).toEqual([
      ['Task', 'Title', 'After', 'Status'],
      ['T1', 'Task T1', '–', '❌ failed'],
      ['T2', 'Task T2', 'T1', '⏭️ skipped'],
      ['T3', 'Task T3', 'T2', '⏭️ skipped'],
      ['T4', 'Task T4', '–', '✅ merged']
    ])
    const text = allNodes(parseMarkdown(markdown))
      .flatMap((n) => (n.type === 'heading' || n.type === 'paragraph' ? [n] : []))
      .map((n) =>
        allNodes(n)
          .flatMap((c) => (c.type === 'text' ? [c.value] : []))
          .join('')
      )
    expect(text).toContain('⏭️ T3: Task T3')
    expect(text).toContain(
      'Not started: it builds on T2, and T2 skipped (T1 failed). It runs once they are done: fix the first task of the chain and run again.'
    )
  })

  it('has no After column when no task has dependencies', () => {
    const markdown = renderReport(result([row('T1', {})]), { issueNumber: 3 })
    expect(tableOf(markdown)[0]).toEqual(['Task', 'Title', 'Status', 'Duration', 'Files changed'])
  })
})
