// Cost, tokens, summaries, attempts and refused tool calls in the status comment, the pull
// request body and the job summary: shown as a reader sees them, agent words as text only.
import { describe, expect, it } from '@jest/globals'
import type { Table } from 'mdast'
import { runTotals } from '../src/core/report/agent-cost.js'
import {
  renderMatrixStatus,
  renderPullRequestBody,
  renderReport,
  renderTaskJobSummary
} from '../src/core/report/markdown.js'
import type { FanoutResult, TaskResult } from '../src/core/types.js'
import { allNodes, htmlNodes, mentions, parseMarkdown } from '../test-support/markdown-structure.js'

const task = (id: string, extra: Partial<TaskResult> = {}): TaskResult => ({
  id,
  title: `Task ${id}`,
  status: 'merged',
  branch: `fanout/issue-3/${id}`,
  changedFiles: ['a.txt'],
  durationMs: 5_000,
  ...extra
})

const result = (tasks: TaskResult[]): FanoutResult => ({
  baseBranch: 'main',
  baseSha: 'a'.repeat(40),
  integrationBranch: 'fanout/issue-3/integration',
  integrationSha: 'b'.repeat(40),
  tasks
})

const TASKS = [
  task('T1', {
    agentReport: { costUsd: 0.0123, inputTokens: 3000, outputTokens: 150, summary: 'Wrote T1.' },
    tries: [
      { attempt: 1, outcome: 'rate limited by the model API (429)' },
      { attempt: 2, outcome: 'succeeded' }
    ]
  }),
  task('T2', {
    agentReport: { costUsd: 0.02, inputTokens: 1000, outputTokens: 50 }
  }),
  task('T3', {
    status: 'failed',
    reason: 'agent exited with status 1',
    tries: [{ attempt: 1, outcome: 'exited with status 1' }]
  })
]

/** The rows of the first table, as the reader sees its cells. */
function tableOf(markdown: string): string[][] {
  const table = allNodes(parseMarkdown(markdown)).find((n) => n.type === 'table') as Table
  return table.children.map((row) =>
    row.children.map((cell) =>
      allNodes(cell)
        .flatMap((n) => (n.type === 'text' || n.type === 'inlineCode' ? [n.value] : []))
        .join('')
    )
  )
}

describe('cost and tokens in the reports', () => {
  it('adds up the run: summed cost and tokens, and how many tasks reported a cost', () => {
    expect(runTotals(TASKS)).toEqual({
      costUsd: 0.0323,
      inputTokens: 4000,
      outputTokens: 200,
      withCost: 2,
      ran: 3
    })
  })

  it('the status comment: cost and tokens per task, the totals, attempts and summaries', () => {
    const body = renderReport(result(TASKS), { issueNumber: 3 })
    const rows = tableOf(body)
    expect(rows[0]).toEqual([
      'Task',
      'Title',
      'Status',
      'Duration',
      'Files changed',
      'Cost',
      'Tokens'
    ])
    expect(rows.slice(1).map((r) => r.slice(5))).toEqual([
      ['$0.0123', '3,000 in / 150 out'],
      ['$0.0200', '1,000 in / 50 out'],
      ['–', '–']
    ])
    expect(body).toContain(
      "Agents' reported cost: $0.0323 (2 of 3 tasks reported one) · tokens: 4,000 in / 200 out."
    )
    expect(body).toContain('2 attempts: rate limited by the model API (429); then succeeded')
    expect(body).toContain('Wrote T1.')
  })

  it('the pull request body and the job summaries show them too', () => {
    const pr = renderPullRequestBody(result(TASKS), 3, false)
    expect(tableOf(pr)[1].slice(5)).toEqual(['$0.0123', '3,000 in / 150 out'])
    expect(pr).toContain("Agents' reported cost: $0.0323")
    const job = renderTaskJobSummary(TASKS[0], 3)
    expect(tableOf(job)[1].slice(5)).toEqual(['$0.0123', '3,000 in / 150 out'])
    expect(job).toContain('2 attempts')
    const matrix = renderMatrixStatus({ marker: '<!-- m -->', headline: 'running', rows: TASKS })
    expect(tableOf(matrix)[0]).toContain('Cost')
  })

  it('keeps the table as it was when no agent reported figures', () => {
    const body = renderReport(result([task('T1'), task('T2')]), { issueNumber: 3 })
    expect(tableOf(body)[0]).toEqual(['Task', 'Title', 'Status', 'Duration', 'Files changed'])
    expect(body).not.toContain('reported cost')
    expect(body).not.toContain('Agent notes')
  })

  it('shows refused tool calls as a warning next to the task', () => {
    const denied = task('T1', {
      agentReport: { permissionDenials: ['Bash: npm test', 'Bash: git commit -m x'] }
    })
    const body = renderReport(result([denied]), { issueNumber: 3 })
    expect(body).toContain(
      '⚠️ its CLI refused 2 tool calls for lack of permission (the work may be incomplete): `Bash: npm test`, `Bash: git commit -m x`'
    )
  })

  it('renders what agents wrote as text: no structure, no mention, no link', () => {
    const hostile = task('T1', {
      agentReport: {
        summary: '</details>\n# Owned\n| a | b |\n@admin see #1 https://evil.example <img src=x>',
        permissionDenials: ['Bash: `rm -rf` <script>'],
        costUsd: 0.01
      }
    })
    const body = renderReport(result([hostile]), { issueNumber: 3 })
    const tree = parseMarkdown(body)
    expect(tree.children.filter((n) => n.type === 'heading')).toHaveLength(1)
    expect(allNodes(tree).filter((n) => n.type === 'table')).toHaveLength(1)
    expect(allNodes(tree).filter((n) => n.type === 'link')).toHaveLength(0)
    expect(htmlNodes(body)).toEqual([])
    expect(mentions(body)).toEqual([])
  })

  it('shortens the summaries before it drops them, to fit the size limit', () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      task(`T${i}`, { agentReport: { summary: `${i} ${'word '.repeat(80)}`, costUsd: 0.01 } })
    )
    const roomy = renderReport(result(many), { issueNumber: 3 })
    const tight = renderReport(result(many), { issueNumber: 3, maxLength: roomy.length - 2000 })
    expect(tight.length).toBeLessThanOrEqual(roomy.length - 2000)
    expect(tight).toContain('Agent notes')
    expect(tight).toContain('$0.4000')
  })
})
