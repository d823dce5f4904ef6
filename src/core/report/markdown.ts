import type { Heading, PhrasingContent, RootContent, Table } from 'mdast'
import type { FanoutResult, TaskResult, TaskStatus } from '../types.js'
import { diskUseDetails } from './disk-use.js'
import { agentColumns, agentNotes, totalsLine } from './agent-cost.js'
import * as md from './mdast.js'
import { perTaskSummary, type SubjectsByTask } from './pull-summary.js'
import { clockTime, humanDuration } from './time.js'

// Every report (the status comment, the pull request body, the job summary) is built as a
// markdown tree and serialised (mdast.ts): text from agents, git and the issue goes into text
// and code nodes only, so it cannot add a table row, a heading, HTML or a mention.

/** GitHub refuses comment and PR bodies over 65,536 characters; keep a margin. */
export const GITHUB_BODY_LIMIT = 65536
const DEFAULT_BUDGET = 60000

export interface ReportContext extends RowLinks {
  issueNumber: number
  pullRequest?: { number: number; url: string }
  /** Why no pull request was opened, when none was (plain text, shown as text). */
  noPullRequestReason?: string
  /** Link to the workflow run, where full logs are. */
  runUrl?: string
  /** Hidden marker placed first in the body (sticky-comment lookup); our own HTML comments. */
  marker?: string
  maxLength?: number
  /** Replaces the counts in the heading (e.g. "cancelled — 2 merged"). */
  headline?: string
  /** Blocks of our own shown under the headline (e.g. why the pull request was refused). */
  notices?: RootContent[]
}

export const STATUS_LABEL: Record<TaskStatus, string> = {
  merged: '✅ merged',
  'merged-after-rerun': '✅ merged after re-run',
  'merged-after-resolve': '✅ merged after resolve',
  'merged-by-hand': '✅ merged by hand',
  'broke-verify': '🧪 broke verify',
  conflicted: '⚠️ conflicted',
  failed: '❌ failed',
  'no-changes': '➖ no changes',
  skipped: '⏭️ skipped',
  queued: '⏳ queued',
  ready: '📦 done, waiting for the merge job'
}

export function formatDuration(ms: number): string {
  if (ms <= 0) return '–'
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`
}

export function statusCounts(result: FanoutResult): Record<TaskStatus, number> {
  const counts: Record<TaskStatus, number> = {
    merged: 0,
    'merged-after-rerun': 0,
    'merged-after-resolve': 0,
    'merged-by-hand': 0,
    'broke-verify': 0,
    conflicted: 0,
    failed: 0,
    'no-changes': 0,
    skipped: 0,
    queued: 0,
    ready: 0
  }
  for (const task of result.tasks) counts[task.status]++
  return counts
}

export function summaryLine(result: FanoutResult): string {
  const counts = statusCounts(result)
  return (Object.keys(counts) as TaskStatus[])
    .filter((s) => counts[s] > 0)
    .map((s) => `${counts[s]} ${s}`)
    .join(', ')
}

/** Where a task's branch and log can be seen (the action's reports; the CLI has none). */
export interface RowLinks {
  /** The web page of a branch that is on the repository. */
  branchUrl?: (branch: string) => string | undefined
  /** Tasks whose agents run now (a matrix's task jobs), with when they started. */
  running?: Map<string, number>
}

function statusCell(t: TaskResult, links: RowLinks): string {
  const since = t.status === 'queued' ? links.running?.get(t.id) : undefined
  return since === undefined ? STATUS_LABEL[t.status] : `🏃 running since ${clockTime(since)}`
}

/** Links of a row: its branch when it holds work (it was pushed), its log when uploaded. */
function rowLinks(t: TaskResult, links: RowLinks): PhrasingContent[] {
  const branch = t.commit && t.status !== 'no-changes' ? links.branchUrl?.(t.branch) : undefined
  const parts: PhrasingContent[][] = [
    ...(branch ? [[md.link(branch, md.text('branch'))]] : []),
    ...(t.logUrl ? [[md.link(t.logUrl, md.text('log'))]] : [])
  ]
  return parts.length ? md.joined(parts, ' · ') : [md.text('–')]
}

/**
 * The task table shared by the status comment, the pull request body and the job summary. An
 * "After" column names each task's dependencies when any task has some; cost and tokens show
 * when agents reported them (agent-cost.ts); links where branches or logs can be seen.
 */
function taskTable(tasks: TaskResult[], links: RowLinks = {}): Table {
  const after = tasks.some((t) => t.dependsOn?.length)
  const agent = agentColumns(tasks)
  const linked = !!links.branchUrl || tasks.some((t) => t.logUrl)
  const headers = [
    'Task',
    'Title',
    ...(after ? ['After'] : []),
    'Status',
    'Duration',
    'Files changed',
    ...(agent?.headers ?? []),
    ...(linked ? ['Links'] : [])
  ]
  return md.table([
    headers.map((h) => [md.text(h)]),
    ...tasks.map((t) => [
      [md.untrusted(t.id, 40)],
      [md.untrusted(t.title)],
      ...(after ? [[md.untrusted(t.dependsOn?.join(', ') || '–', 200)]] : []),
      [md.text(statusCell(t, links))],
      [md.text(t.durationMs > 0 ? humanDuration(t.durationMs) : '–')],
      [md.text(String(t.changedFiles.length))],
      ...(agent?.cells(t) ?? []),
      ...(linked ? [rowLinks(t, links)] : [])
    ])
  ])
}

/**
 * A task skipped because a task it builds on did not finish with work: the reason is the chain
 * back to the task that failed ("T2 skipped (T1 failed)").
 */
function skippedDetail(task: TaskResult): Detail {
  const why = md.paragraph(
    md.strong(md.text('Not started:')),
    md.text(' it builds on '),
    md.untrusted(task.dependsOn!.join(', '), 200),
    md.text(', and '),
    md.untrusted(task.reason ?? 'a dependency did not finish', 600),
    md.text('. It runs once they are done: fix the first task of the chain and run again.')
  )
  return { heading: taskHeading('⏭️', task), variants: [[why], [why], [why]] }
}

/** The last `lines` lines of an output, at most `chars` characters of it. */
function lastLines(output: string, lines: number, chars = 4000): string {
  return output.split('\n').slice(-lines).join('\n').slice(-chars)
}

/** One line about the verify command, and a short tail when it failed. */
function verifyParts(verify: NonNullable<FanoutResult['verify']>): {
  line: PhrasingContent[]
  tail?: RootContent
} {
  const label = `Verify (${verify.mode}): `
  const what = md.inline(verify.command)
  if (verify.note) return { line: [md.text(`${label}⚠️ `), what, md.text(` — ${verify.note}.`)] }
  if (verify.ok)
    return { line: [md.text(`${label}✅ `), what, md.text(' passes on the integration branch.')] }
  return {
    line: [
      md.text(`${label}❌ `),
      what,
      md.text(` fails on the integration branch (exit ${verify.exitCode ?? 'killed'}).`)
    ],
    tail: md.code(lastLines(verify.tail, 15), 'text')
  }
}

interface Detail {
  heading: Heading
  /** Variants from richest to barest; the renderer picks the richest that fits. */
  variants: RootContent[][]
}

function taskHeading(icon: string, task: TaskResult): Heading {
  return md.heading(4, md.text(`${icon} ${md.inertLine(task.id, 40)}: ${md.inertLine(task.title)}`))
}

function conflictDetail(task: TaskResult, integrationBranch: string): Detail {
  const conflict = task.conflict!
  const files = conflict.files.length
    ? md.joined(
        conflict.files.map((f) => [md.fileName(f)]),
        ', '
      )
    : [md.text('(no file-level conflict; see messages)')]
  const head: RootContent[] = [
    md.paragraph(
      md.strong(md.text("Branch with the task's work:")),
      md.text(' '),
      md.inline(task.branch)
    ),
    md.paragraph(md.strong(md.text('Conflicting files:')), md.text(' '), ...files)
  ]
  if (conflict.withTasks?.length) {
    head.push(
      md.paragraph(
        md.strong(md.text('Collides with:')),
        md.text(' '),
        ...md.joined(
          conflict.withTasks.map((t) => [
            md.untrusted(t.id, 40),
            md.text(' ('),
            md.inline(t.branch),
            md.text(')')
          ]),
          ', '
        ),
        md.text(', already merged')
      )
    )
  }
  if (task.attempts?.length) {
    head.push(
      md.paragraph(md.strong(md.text('Tried:'))),
      md.list(
        task.attempts.map((a) => [
          md.inline(a.strategy),
          md.text(': '),
          md.untrusted(a.outcome, 300)
        ])
      )
    )
  }
  const messages = conflict.messages.length ? [md.code(conflict.messages.join('\n'))] : []
  const hunks = conflict.hunks.flatMap((h) => [
    md.paragraph(md.fileName(h.file)),
    md.code(h.text, 'diff')
  ])
  const wayForward = [
    md.paragraph(
      md.strong(md.text('How to go on')),
      md.text(" (the task's work is safe on its branch):")
    ),
    md.list([
      [
        md.text('Resolve by hand: '),
        md.inline(
          `git fetch origin && git switch ${integrationBranch} && git merge origin/${task.branch}`
        ),
        md.text(
          ', fix the files above, commit and push: the pull request picks it up, and later runs keep your commits (the task then shows as merged by hand).'
        )
      ],
      [
        md.text(
          'Or re-run the task on top of the merged result: reword it so it builds on the other tasks and run the workflow again.'
        )
      ],
      [
        md.text('Or leave it out: nothing of it is on '),
        md.inline(integrationBranch),
        md.text('; delete '),
        md.inline(task.branch),
        md.text(' once the work is no longer needed.')
      ]
    ])
  ]
  return {
    heading: taskHeading('⚠️', task),
    variants: [
      [...head, ...messages, ...hunks, ...wayForward],
      [
        ...head,
        ...messages,
        md.paragraph(
          md.emphasis(
            md.text("Conflict hunks omitted to fit GitHub's size limit; run "),
            md.inline('git merge'),
            md.text(' as below to see them.')
          )
        ),
        ...wayForward
      ],
      [...head, ...wayForward]
    ]
  }
}

function brokeVerifyDetail(task: TaskResult): Detail {
  const head = md.paragraph(
    md.strong(md.text("Branch with the task's work:")),
    md.text(' '),
    md.inline(task.branch),
    md.text(
      '. It merged cleanly, but the verify command failed with it, so it was taken back out of the integration branch.'
    )
  )
  const tail = task.verifyTail ?? ''
  return {
    heading: taskHeading('🧪', task),
    variants: [
      [head, ...md.details('Last lines of the verify output', md.code(tail, 'text'))],
      [head, md.code(lastLines(tail, 8), 'text')],
      [head]
    ]
  }
}

/** A task whose agent's output is worth seeing: it failed, or it changed nothing. */
function outputDetail(icon: string, task: TaskResult, ctx: ReportContext): Detail {
  const reason = md.paragraph(
    md.strong(md.text('Why:')),
    md.text(' '),
    md.untrusted(task.reason ?? 'unknown', 300)
  )
  const where = ctx.runUrl
    ? [
        md.paragraph(
          md.text('Full log: '),
          md.link(ctx.runUrl, md.text('workflow run')),
          md.text('.')
        )
      ]
    : task.logFile
      ? [md.paragraph(md.text('Full log: '), md.inline(task.logFile), md.text('.'))]
      : []
  const tail = task.logTail
    ? md.code(task.logTail, 'text')
    : md.paragraph(md.emphasis(md.text('The agent printed nothing.')))
  return {
    heading: taskHeading(icon, task),
    variants: [
      [reason, ...md.details('Last lines of its output', tail), ...where],
      [reason, md.code(lastLines(task.logTail ?? '', 8), 'text'), ...where],
      [reason, ...where]
    ]
  }
}

/** The tasks whose agents ran (not skipped, queued, waiting or reused from an earlier run). */
function ranTasks(tasks: TaskResult[]): TaskResult[] {
  return tasks.filter((t) => !['skipped', 'queued', 'ready'].includes(t.status) && !t.reused)
}

/**
 * True when every task whose agent ran ended `no-changes`: one agent may have had nothing to
 * do, all of them means the agent command most likely cannot write (a missing permission mode).
 */
export function noTaskChangedAnything(result: FanoutResult): boolean {
  const ran = ranTasks(result.tasks)
  return ran.length > 0 && ran.every((t) => t.status === 'no-changes')
}

/** Says plainly that the agent command likely cannot write, with one agent's last lines. */
function cannotWriteNotice(result: FanoutResult): RootContent[] {
  if (!noTaskChangedAnything(result)) return []
  const ran = ranTasks(result.tasks)
  const example = ran.find((t) => t.logTail?.trim())
  const explain = md.paragraph(
    md.strong(
      md.text('⚠️ No agent changed anything: the agent command likely cannot write files.')
    ),
    md.text(
      '\nEvery task that ran ended with no changes. An agent that is not allowed to edit files exits successfully and changes nothing, for example Claude Code without '
    ),
    md.inline('--permission-mode acceptEdits'),
    md.text('. Check '),
    md.inline('agent-command'),
    md.text(' and the permissions it runs with.'),
    ...(example
      ? [md.text(' The output of '), md.untrusted(example.id, 40), md.text(' ends with:')]
      : [md.text(' No agent printed anything.')])
  )
  return [
    md.blockquote(
      explain,
      ...(example ? [md.code(lastLines(example.logTail!, 15, 2000), 'text')] : [])
    )
  ]
}

/**
 * The full report: headline, task table, pull request link, and one section per conflicted,
 * failed or unchanged task. It always fits `maxLength` (default well under GitHub's 65,536):
 * details are shortened step by step (hunks, then log tails), never the table.
 */
export function renderReport(result: FanoutResult, ctx: ReportContext): string {
  const budget = Math.min(ctx.maxLength ?? DEFAULT_BUDGET, GITHUB_BODY_LIMIT)
  const head: RootContent[] = []
  if (ctx.marker) head.push(md.html(ctx.marker))
  head.push(
    md.heading(3, md.text(`agent-fanout: ${ctx.headline ?? (summaryLine(result) || 'no tasks')}`))
  )
  const lines: PhrasingContent[][] = []
  if (ctx.pullRequest) {
    lines.push([
      md.text(`Pull request: #${ctx.pullRequest.number} (`),
      md.link(ctx.pullRequest.url, md.text(ctx.pullRequest.url)),
      md.text(') from '),
      md.inline(result.integrationBranch),
      md.text('.')
    ])
  } else if (ctx.noPullRequestReason) {
    lines.push([md.text('No pull request: '), md.untrusted(ctx.noPullRequestReason, 600)])
  }
  lines.push([
    md.text('Base: '),
    md.inline(result.baseBranch),
    md.text(` at ${result.baseSha.slice(0, 12)}.`)
  ])
  const verify = result.verify ? verifyParts(result.verify) : undefined
  if (verify) lines.push(verify.line)
  const totals = totalsLine(result.tasks)
  if (totals) lines.push(totals)
  head.push(md.paragraph(...md.joined(lines, '\n')))
  if (verify?.tail) head.push(verify.tail)
  head.push(...(ctx.notices ?? []))
  head.push(...cannotWriteNotice(result))
  for (const warning of result.warnings ?? [])
    head.push(md.blockquote(md.paragraph(md.text('⚠️ '), md.untrusted(warning, 600))))
  head.push(taskTable(result.tasks, ctx), ...diskUseDetails(result.tasks))
  // The agents' own words: shortened, then left out, when the report would not fit.
  const notes = [300, 100, 0].map((chars) => agentNotes(result.tasks, chars))

  const details: Detail[] = [
    ...result.tasks
      .filter((t) => t.status === 'conflicted' && t.conflict)
      .map((t) => conflictDetail(t, result.integrationBranch)),
    ...result.tasks.filter((t) => t.status === 'broke-verify').map((t) => brokeVerifyDetail(t)),
    ...result.tasks.filter((t) => t.status === 'failed').map((t) => outputDetail('❌', t, ctx)),
    ...result.tasks
      .filter((t) => t.status === 'skipped' && t.dependsOn?.length && t.reason)
      .map(skippedDetail),
    // Only where the agent ran in this run (a result kept from an earlier run has no output).
    ...result.tasks
      .filter((t) => t.status === 'no-changes' && t.logTail !== undefined)
      .map((t) => outputDetail('➖', t, ctx))
  ]
  const footer = ctx.runUrl
    ? [
        md.paragraph(
          md.html('<sub>'),
          md.link(ctx.runUrl, md.text('Workflow run')),
          md.html('</sub>')
        )
      ]
    : []
  let noteLevel = 0
  const assemble = (sections: RootContent[]): string =>
    md.serialize([
      ...head,
      ...notes[noteLevel],
      ...(details.length ? [{ type: 'thematicBreak' } as RootContent] : []),
      ...sections,
      ...footer
    ])

  // Pick, for all details at once, the richest level that fits (the agents' notes shrink
  // alongside); then drop what still does not.
  const levels = [
    [0, 0],
    [1, 0],
    [1, 1],
    [2, 1],
    [2, 2]
  ]
  for (const [level, notesAt] of levels) {
    noteLevel = notesAt
    const body = assemble(details.flatMap((d) => [d.heading, ...d.variants[level]]))
    if (body.length <= budget) return body
  }
  const kept: RootContent[] = []
  let omitted = details.length
  for (const d of details) {
    const next = [...kept, d.heading, ...d.variants[2]]
    if (assemble(next).length > budget - 200) break
    kept.push(d.heading, ...d.variants[2])
    omitted--
  }
  const note = omitted
    ? [
        md.paragraph(
          md.emphasis(
            md.text(
              `${omitted} more task report(s) omitted to fit GitHub's size limit; see the job summary.`
            )
          )
        )
      ]
    : []
  const body = assemble([...kept, ...note])
  return body.length <= budget ? body : body.slice(0, budget - 20) + '\n\n_(truncated)_\n'
}

/** The pull request's body: what it holds, the task table, and the issue it closes or refers to. */
export function renderPullRequestBody(
  result: FanoutResult,
  issueNumber: number,
  allMerged: boolean,
  extra: {
    /** Sub-issues whose task is merged: one `Closes #N` each. */
    closes?: number[]
    /** Commit subjects of the task branches, for tasks whose agent said nothing of its work. */
    subjects?: SubjectsByTask
  } = {}
): string {
  const verify = result.verify ? verifyParts(result.verify) : undefined
  const totals = totalsLine(result.tasks)
  const head: RootContent[] = [
    md.paragraph(
      md.text(
        `Tasks from #${issueNumber}, each done by an agent in its own worktree and merged here in task-list order.`
      )
    ),
    ...(verify ? [md.paragraph(...verify.line), ...(verify.tail ? [verify.tail] : [])] : []),
    ...(totals ? [md.paragraph(...totals)] : []),
    taskTable(result.tasks)
  ]
  const closing = [
    allMerged
      ? `Closes #${issueNumber}`
      : `Refs #${issueNumber} (not every task merged; see the status comment there).`,
    ...(extra.closes ?? []).map((n) => `Closes #${n}`)
  ]
  const tail = [md.paragraph(md.text(closing.join('\n')))]
  const room = DEFAULT_BUDGET - md.serialize([...head, ...tail]).length - 200
  return md.serialize([
    ...head,
    ...perTaskSummary(result, extra.subjects ?? new Map(), room),
    ...tail
  ])
}

/**
 * The status comment of a matrix run while its task jobs report: the table, why tasks failed or
 * changed nothing, and where the final report will come from.
 */
export function renderMatrixStatus(options: {
  /** Our hidden markers (status marker, state block). */
  marker: string
  headline: string
  rows: TaskResult[]
  runUrl?: string
  branchUrl?: RowLinks['branchUrl']
  running?: RowLinks['running']
}): string {
  const problems = options.rows.filter((t) => t.status === 'failed' || t.status === 'no-changes')
  return md.serialize([
    md.html(options.marker),
    md.heading(3, md.text(`agent-fanout: ${options.headline}`)),
    taskTable(options.rows, options),
    ...(problems.length
      ? [
          md.list(
            problems.map((t) => [
              md.strong(md.untrusted(t.id, 40)),
              md.text(` ${t.status}: `),
              md.untrusted(t.reason ?? '', 500)
            ])
          )
        ]
      : []),
    md.paragraph(
      md.text(
        'Each task runs in a job of its own; the merge job merges their branches, opens the pull request and writes the final report here.'
      ),
      ...(options.runUrl ? [md.text(' '), md.link(options.runUrl, md.text('Workflow run'))] : [])
    )
  ])
}

/** The job summary of a matrix task job: its one row, and why it ended as it did. */
export function renderTaskJobSummary(result: TaskResult, issueNumber: number): string {
  return md.serialize([
    md.heading(3, md.text(`agent-fanout: task ${md.inertLine(result.id, 40)} of #${issueNumber}`)),
    taskTable([result]),
    ...(result.reason ? [md.paragraph(md.untrusted(result.reason, 1000))] : []),
    ...agentNotes([result])
  ])
}
