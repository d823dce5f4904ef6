import { describe, expect, it } from '@jest/globals'
import { cell, GITHUB_BODY_LIMIT, renderReport } from '../src/core/report/markdown.js'
import type { FanoutResult, TaskResult } from '../src/core/types.js'

function result(tasks: TaskResult[]): FanoutResult {
  return {
    baseBranch: 'main',
    baseSha: 'a'.repeat(40),
    integrationBranch: 'fanout/issue-3/integration',
    integrationSha: 'b'.repeat(40),
    tasks
  }
}

const merged = (id: string): TaskResult => ({
  id,
  title: `Task ${id}`,
  status: 'merged',
  branch: `fanout/issue-3/${id}`,
  changedFiles: ['a.txt'],
  durationMs: 65_000
})

describe('renderReport', () => {
  it('shows the task table, the pull request and a conflict report naming the task, branch, file and hunk', () => {
    const conflicted: TaskResult = {
      id: 'T2',
      title: 'Make it beta',
      status: 'conflicted',
      branch: 'fanout/issue-3/T2',
      changedFiles: ['README.md'],
      durationMs: 1200,
      conflict: {
        files: ['README.md'],
        messages: ['CONFLICT (content): Merge conflict in README.md'],
        hunks: [{ file: 'README.md', text: '<<<<<<< ours\nstable\n=======\nbeta\n>>>>>>> theirs' }]
      }
    }
    const body = renderReport(result([merged('T1'), conflicted]), {
      issueNumber: 3,
      pullRequest: { number: 9, url: 'https://github.com/o/r/pull/9' },
      marker: '<!-- m -->'
    })
    expect(body.startsWith('<!-- m -->\n')).toBe(true)
    expect(body).toContain('| T1 | Task T1 | ✅ merged | 1m 5s | 1 |')
    expect(body).toContain('| T2 | Make it beta | ⚠️ conflicted | 1.2s | 1 |')
    expect(body).toContain('Pull request: #9')
    expect(body).toContain('`fanout/issue-3/T2`')
    expect(body).toContain('CONFLICT (content): Merge conflict in README.md')
    expect(body).toContain('>>>>>>> theirs')
    expect(body).toContain('git merge origin/fanout/issue-3/T2')
  })

  it('stays under the comment size limit with 40 huge conflicts, keeping the whole table', () => {
    const hunk = 'x'.repeat(5000)
    const tasks: TaskResult[] = Array.from({ length: 40 }, (_, i) => ({
      id: `T${i + 1}`,
      title: `Conflicting task number ${i + 1}`,
      status: 'conflicted',
      branch: `fanout/issue-3/T${i + 1}`,
      changedFiles: Array.from({ length: 30 }, (_, j) => `some/long/path/file-${j}.ts`),
      durationMs: 1000,
      conflict: {
        files: Array.from({ length: 30 }, (_, j) => `some/long/path/file-${j}.ts`),
        messages: ['CONFLICT (content): Merge conflict'],
        hunks: Array.from({ length: 4 }, (_, j) => ({ file: `f${j}`, text: hunk }))
      }
    }))
    const body = renderReport(result(tasks), { issueNumber: 3 })
    expect(body.length).toBeLessThanOrEqual(GITHUB_BODY_LIMIT)
    for (let i = 1; i <= 40; i++) expect(body).toContain(`| T${i} | Conflicting task number ${i} |`)
  })

  it('shows the tail of a failed task log in the report', () => {
    const failed: TaskResult = {
      id: 'T1',
      title: 'Broken',
      status: 'failed',
      branch: 'b',
      changedFiles: [],
      durationMs: 10,
      reason: 'agent exited with status 2',
      logTail: 'error: tests failed'
    }
    const body = renderReport(result([failed]), {
      issueNumber: 3,
      noPullRequestReason: 'no task produced changes.'
    })
    expect(body).toContain('agent exited with status 2')
    expect(body).toContain('error: tests failed')
    expect(body).toContain('No pull request: no task produced changes.')
  })

  it('neutralises untrusted titles in table cells', () => {
    expect(cell('a | b <img src=x> @octocat `x`')).toBe(
      "a \\| b &lt;img src=x&gt; @\u200boctocat 'x'"
    )
  })
})
