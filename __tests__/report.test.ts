import { describe, expect, it } from '@jest/globals'
import {
  GITHUB_BODY_LIMIT,
  renderMatrixStatus,
  renderPullRequestBody,
  renderReport,
  renderTaskJobSummary
} from '../src/core/report/markdown.js'
import type { FanoutResult, TaskResult } from '../src/core/types.js'
import {
  allNodes,
  htmlNodes,
  mentions,
  parseMarkdown,
  skeleton
} from '../test-support/markdown-structure.js'

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
    expect(body).toContain('| T1 | Task T1 | ✅ merged | 1 min 5 s | 1 |')
    expect(body).toContain('| T2 | Make it beta | ⚠️ conflicted | 1.2 s | 1 |')
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
})

// Text from agents, git and the issue, as hostile as it gets in a report.
const HOSTILE = [
  'x\n::error::pwned',
  'tick` and ``` fence',
  '@someone',
  '<img src=x onerror=alert(1)>',
  '::stop-commands::abc',
  'a | b',
  '</details>',
  '<!-- hidden -->',
  '#12 and GH-7',
  '*not* _emphasis_ [link](http://e.test) \\ &amp; fix #'
]
const BENIGN = HOSTILE.map((_, i) => `file-${i}.txt`)

/** A result with every kind of section, its outside text taken from `words`. */
function everything(words: string[]): FanoutResult {
  const w = (i: number): string => words[i % words.length]
  const conflicted: TaskResult = {
    id: 'T2',
    title: w(3),
    status: 'conflicted',
    branch: 'fanout/issue-3/T2',
    changedFiles: words,
    durationMs: 1200,
    attempts: [{ strategy: 'rerun', outcome: w(2) }],
    conflict: {
      files: words,
      messages: words.map((f) => `CONFLICT (add/add): Merge conflict in ${f}`),
      hunks: words.map((f) => ({
        file: f,
        text: `<<<<<<< ours\n${w(1)}\n=======\n${f}\n>>>>>>> theirs`
      })),
      withTasks: [{ id: 'T1', branch: 'fanout/issue-3/T1' }]
    }
  }
  return {
    baseBranch: 'main',
    baseSha: 'a'.repeat(40),
    integrationBranch: 'fanout/issue-3/integration',
    integrationSha: 'b'.repeat(40),
    warnings: [`A warning about ${w(0)} ${w(3)}`],
    verify: {
      mode: 'final',
      command: 'npm test',
      ok: false,
      tail: words.join('\n'),
      exitCode: 1,
      durationMs: 5
    },
    tasks: [
      { ...merged('T1'), title: w(5), changedFiles: words },
      conflicted,
      {
        id: 'T3',
        title: w(6),
        status: 'broke-verify',
        branch: 'fanout/issue-3/T3',
        changedFiles: [w(7)],
        durationMs: 10,
        verifyTail: words.join('\n')
      },
      {
        id: 'T4',
        title: w(7),
        status: 'failed',
        branch: 'b',
        changedFiles: [],
        durationMs: 10,
        reason: `agent exited with status 2 after writing ${w(0)} ${w(2)}`,
        logTail: words.join('\n')
      },
      {
        id: 'T5',
        title: w(9),
        status: 'no-changes',
        branch: 'b5',
        changedFiles: [],
        durationMs: 10,
        reason: 'the agent changed no file',
        logTail: words.join('\n')
      }
    ]
  }
}

const ctx = {
  issueNumber: 3,
  marker: '<!-- agent-fanout:status issue=3 -->',
  pullRequest: { number: 9, url: 'https://github.com/o/r/pull/9' },
  runUrl: 'https://github.com/o/r/actions/runs/1'
}

describe('outside text in the reports', () => {
  const bodies = (words: string[]): Record<string, string> => {
    const result = everything(words)
    return {
      report: renderReport(result, ctx),
      'report without PR': renderReport(result, {
        issueNumber: 3,
        noPullRequestReason: `the push was rejected: ${words.join(' ')}`
      }),
      'pull request': renderPullRequestBody(result, 3, false),
      matrix: renderMatrixStatus({ marker: ctx.marker, headline: 'planned', rows: result.tasks }),
      'task job': renderTaskJobSummary({ ...result.tasks[3], id: 'T4' }, 3)
    }
  }

  it('gives each report the same structure as with plain text: same headings, table rows, lists, code blocks and HTML', () => {
    const hostile = bodies(HOSTILE)
    const benign = bodies(BENIGN)
    for (const name of Object.keys(benign)) {
      expect([name, skeleton(parseMarkdown(hostile[name]))]).toEqual([
        name,
        skeleton(parseMarkdown(benign[name]))
      ])
    }
    // Not vacuous: the report has the sections the structure is compared on.
    const tree = parseMarkdown(hostile.report)
    expect(allNodes(tree).filter((n) => n.type === 'tableRow')).toHaveLength(6)
    expect(allNodes(tree).filter((n) => n.type === 'heading')).toHaveLength(5)
    expect(htmlNodes(hostile.report)).toEqual([
      ctx.marker,
      '<details><summary>Last lines of the verify output</summary>',
      '</details>',
      '<details><summary>Last lines of its output</summary>',
      '</details>',
      '<details><summary>Last lines of its output</summary>',
      '</details>',
      '<sub>',
      '</sub>'
    ])
  })

  it('shows outside text as it is: file names in code spans (quoted like git when they hold a newline), log tails in code blocks', () => {
    const tree = parseMarkdown(bodies(HOSTILE).report)
    const spans = allNodes(tree).flatMap((n) => (n.type === 'inlineCode' ? [n.value] : []))
    for (const name of HOSTILE.slice(1, -1)) expect(spans).toContain(name)
    expect(spans).toContain('"x\\n::error::pwned"')
    expect(spans).toContain('"*not* _emphasis_ [link](http://e.test) \\\\ &amp; fix #"')
    const blocks = allNodes(tree).flatMap((n) => (n.type === 'code' ? [n.value] : []))
    expect(blocks).toContain(HOSTILE.join('\n'))
    expect(blocks).toContain(`<<<<<<< ours\n${HOSTILE[1]}\n=======\n</details>\n>>>>>>> theirs`)
  })

  it('mentions no one and cross-references nothing the text came with; our own references stay', () => {
    for (const [name, body] of Object.entries(bodies(HOSTILE))) {
      expect([name, mentions(body)]).toEqual([name, []])
      const words = allNodes(parseMarkdown(body))
        .flatMap((n) => (n.type === 'text' ? [n.value] : []))
        .join('\n')
      expect(words).toContain('\u200b')
      expect(words).not.toMatch(/#12|GH-7/)
    }
    expect(bodies(HOSTILE)['pull request']).toContain('Refs #3 ')
    expect(renderPullRequestBody(everything(HOSTILE), 3, true)).toContain('Closes #3\n')
    expect(bodies(HOSTILE).report).toContain('Pull request: #9 ')
  })

  it('ends no heading early on a trailing #', () => {
    const body = renderReport(everything(HOSTILE), ctx)
    const headings = allNodes(parseMarkdown(body)).flatMap((n) =>
      n.type === 'heading' ? [n.children.map((c) => ('value' in c ? c.value : '')).join('')] : []
    )
    // (A bare URL stays text too: GitHub would make it a link.)
    expect(headings).toContain('➖ T5: *not* _emphasis_ [link](http:\u200b//e.test) \\ &amp; fix #')
  })
})

describe('tasks that changed nothing', () => {
  const unchanged = (id: string, logTail?: string): TaskResult => ({
    id,
    title: `Task ${id}`,
    status: 'no-changes',
    branch: `fanout/issue-3/${id}`,
    changedFiles: [],
    durationMs: 900,
    reason: 'the agent changed no file',
    ...(logTail !== undefined ? { logTail } : {})
  })
  const NOTICE = 'the agent command likely cannot write files'

  it("show their agent's last lines, like failed tasks", () => {
    const body = renderReport(
      result([merged('T1'), unchanged('T2', 'Nothing to do here: the file is already right.')]),
      { issueNumber: 3 }
    )
    const section = body.slice(body.indexOf('#### ➖ T2: Task T2'))
    expect(section).toContain('**Why:** the agent changed no file')
    expect(section).toContain('<details><summary>Last lines of its output</summary>')
    expect(section).toContain('```text\nNothing to do here: the file is already right.\n```')
    // One task without changes among merged ones is no sign of a broken agent command.
    expect(body).not.toContain(NOTICE)
  })

  it('when every task that ran changed nothing, the report says plainly that the agent likely cannot write, with one log tail', () => {
    const tail =
      'Claude requested permissions to write to /repo/a.txt, but you have not granted it yet.'
    const reused = { ...merged('T0'), reused: true }
    const skipped: TaskResult = { ...merged('T9'), status: 'skipped', reason: 'checked' }
    const body = renderReport(
      result([reused, unchanged('T1', ''), unchanged('T2', tail), skipped]),
      { issueNumber: 3, noPullRequestReason: 'no task produced changes that could be merged.' }
    )
    const notice = body.slice(body.indexOf('> '), body.indexOf('| Task |'))
    expect(notice).toContain(`**⚠️ No agent changed anything: ${NOTICE}.**`)
    expect(notice).toContain('`--permission-mode acceptEdits`')
    expect(notice).toContain('The output of T2 ends with:')
    expect(notice).toContain(`> \`\`\`text\n> ${tail}\n> \`\`\``)
    // It comes before the table, where it is read first.
    expect(body.indexOf(NOTICE)).toBeLessThan(body.indexOf('| Task |'))
  })

  it('says no agent printed anything when none did, and nothing when a task merged', () => {
    const silent = renderReport(result([unchanged('T1', ''), unchanged('T2')]), { issueNumber: 3 })
    expect(silent).toContain(NOTICE)
    expect(silent).toContain('No agent printed anything.')
    // Without output from this run (a result kept from an earlier run) there is no section.
    expect(silent).not.toContain('#### ➖ T2')
    expect(
      renderReport(result([merged('T1'), unchanged('T2', 'x')]), { issueNumber: 3 })
    ).not.toContain(NOTICE)
  })
})
