import type { FanoutResult, TaskResult, TaskStatus } from '../types.js'

/** GitHub refuses comment and PR bodies over 65,536 characters; keep a margin. */
export const GITHUB_BODY_LIMIT = 65536
const DEFAULT_BUDGET = 60000

export interface ReportContext {
  issueNumber: number
  pullRequest?: { number: number; url: string }
  /** Why no pull request was opened, when none was. */
  noPullRequestReason?: string
  /** Link to the workflow run, where full logs are. */
  runUrl?: string
  /** Hidden marker placed first in the body (sticky-comment lookup). */
  marker?: string
  maxLength?: number
  /** Replaces the counts in the heading (e.g. "cancelled — 2 merged"). */
  headline?: string
}

const STATUS_LABEL: Record<TaskStatus, string> = {
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

/** Neutralises untrusted text for a table cell: no pipes, no HTML, no @-mentions, one line. */
export function cell(text: string, max = 120): string {
  let out = text.replace(/\s+/g, ' ').trim()
  if (out.length > max) out = `${out.slice(0, max - 1)}…`
  return out
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/@/g, '@\u200b')
    .replace(/`/g, "'")
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

/** The task table shared by the status comment, the pull request body and the job summary. */
export function renderTaskTable(tasks: TaskResult[]): string {
  const rows = tasks.map(
    (t) =>
      `| ${cell(t.id, 40)} | ${cell(t.title)} | ${STATUS_LABEL[t.status]} | ${formatDuration(t.durationMs)} | ${t.changedFiles.length} |`
  )
  return [
    '| Task | Title | Status | Duration | Files changed |',
    '| --- | --- | --- | --- | --- |',
    ...rows
  ].join('\n')
}

/** A fence that the enclosed text cannot close early. */
function fence(text: string, info = ''): string {
  let longest = 2
  for (const run of text.match(/`{3,}/g) ?? []) longest = Math.max(longest, run.length)
  const f = '`'.repeat(longest + 1)
  return `${f}${info}\n${text}\n${f}`
}

interface Detail {
  heading: string
  /** Variants from richest to barest; the renderer picks the richest that fits. */
  variants: string[]
}

function conflictDetail(task: TaskResult, integrationBranch: string): Detail {
  const conflict = task.conflict!
  const files = conflict.files.length
    ? conflict.files.map((f) => `\`${f.replace(/`/g, "'")}\``).join(', ')
    : '(no file-level conflict; see messages)'
  const messages = conflict.messages.length ? fence(conflict.messages.join('\n')) : ''
  const wayForward = [
    "**How to go on** (the task's work is safe on its branch):",
    `- Resolve by hand: \`git fetch origin && git switch ${integrationBranch} && git merge origin/${task.branch}\`, fix the files above, commit and push: the pull request picks it up, and later runs keep your commits (the task then shows as merged by hand).`,
    '- Or re-run the task on top of the merged result: reword it so it builds on the other tasks and run the workflow again.',
    `- Or leave it out: nothing of it is on \`${integrationBranch}\`; delete \`${task.branch}\` once the work is no longer needed.`
  ].join('\n')
  const tried = task.attempts?.length
    ? `\n\n**Tried:**\n${task.attempts.map((a) => `- \`${a.strategy}\`: ${cell(a.outcome, 300)}`).join('\n')}`
    : ''
  const collides = conflict.withTasks?.length
    ? `\n\n**Collides with:** ${conflict.withTasks.map((t) => `${cell(t.id, 40)} (\`${t.branch}\`)`).join(', ')}, already merged`
    : ''
  const head = `**Branch with the task's work:** \`${task.branch}\`\n\n**Conflicting files:** ${files}${collides}${tried}`
  const hunks = conflict.hunks
    .map((h) => `\`${h.file.replace(/`/g, "'")}\`\n${fence(h.text, 'diff')}`)
    .join('\n\n')
  return {
    heading: `#### ⚠️ ${cell(task.id, 40)}: ${cell(task.title)}`,
    variants: [
      [head, messages, hunks, wayForward].filter(Boolean).join('\n\n'),
      [
        head,
        messages,
        "_Conflict hunks omitted to fit GitHub's size limit; run `git merge` as below to see them._",
        wayForward
      ]
        .filter(Boolean)
        .join('\n\n'),
      [head, wayForward].join('\n\n')
    ]
  }
}

function brokeVerifyDetail(task: TaskResult): Detail {
  const head = `**Branch with the task's work:** \`${task.branch}\`. It merged cleanly, but the verify command failed with it, so it was taken back out of the integration branch.`
  const tail = task.verifyTail ? fence(task.verifyTail, 'text') : ''
  return {
    heading: `#### 🧪 ${cell(task.id, 40)}: ${cell(task.title)}`,
    variants: [
      [
        head,
        '',
        '<details><summary>Last lines of the verify output</summary>',
        '',
        tail,
        '',
        '</details>'
      ].join('\n'),
      [head, fence(task.verifyTail?.split('\n').slice(-8).join('\n') ?? '', 'text')].join('\n\n'),
      head
    ]
  }
}

function failureDetail(task: TaskResult, ctx: ReportContext): Detail {
  const reason = `**Why:** ${cell(task.reason ?? 'unknown', 300)}`
  const where = ctx.runUrl
    ? `Full log: [workflow run](${ctx.runUrl}).`
    : task.logFile
      ? `Full log: \`${task.logFile}\`.`
      : ''
  const tail = task.logTail ? fence(task.logTail, 'text') : '_The agent printed nothing._'
  return {
    heading: `#### ❌ ${cell(task.id, 40)}: ${cell(task.title)}`,
    variants: [
      [
        reason,
        '',
        '<details><summary>Last lines of its output</summary>',
        '',
        tail,
        '',
        '</details>',
        '',
        where
      ]
        .join('\n')
        .trim(),
      [reason, fence(task.logTail?.split('\n').slice(-8).join('\n') ?? '', 'text'), where]
        .filter(Boolean)
        .join('\n\n'),
      [reason, where].filter(Boolean).join('\n\n')
    ]
  }
}

/**
 * The full report: headline, task table, pull request link, and one section per conflicted or
 * failed task. It always fits `maxLength` (default well under GitHub's 65,536): details are
 * shortened step by step (hunks, then log tails), never the table.
 */
export function renderReport(result: FanoutResult, ctx: ReportContext): string {
  const budget = Math.min(ctx.maxLength ?? DEFAULT_BUDGET, GITHUB_BODY_LIMIT)
  const head: string[] = []
  if (ctx.marker) head.push(ctx.marker)
  head.push(`### agent-fanout: ${ctx.headline ?? (summaryLine(result) || 'no tasks')}`)
  head.push('')
  if (ctx.pullRequest) {
    head.push(
      `Pull request: #${ctx.pullRequest.number} (${ctx.pullRequest.url}) from \`${result.integrationBranch}\`.`
    )
  } else if (ctx.noPullRequestReason) {
    head.push(`No pull request: ${ctx.noPullRequestReason}`)
  }
  head.push(`Base: \`${result.baseBranch}\` at ${result.baseSha.slice(0, 12)}.`)
  if (result.verify) head.push(renderVerify(result.verify))
  for (const warning of result.warnings ?? []) head.push('', `> ⚠️ ${cell(warning, 600)}`)
  head.push('')
  head.push(renderTaskTable(result.tasks))

  const details: Detail[] = [
    ...result.tasks
      .filter((t) => t.status === 'conflicted' && t.conflict)
      .map((t) => conflictDetail(t, result.integrationBranch)),
    ...result.tasks.filter((t) => t.status === 'broke-verify').map((t) => brokeVerifyDetail(t)),
    ...result.tasks.filter((t) => t.status === 'failed').map((t) => failureDetail(t, ctx))
  ]
  const sectionTitle: string[] = []
  if (details.length > 0) sectionTitle.push('', '---', '')
  const footer = ctx.runUrl ? `\n\n<sub>[Workflow run](${ctx.runUrl})</sub>` : ''

  // Pick, for all details at once, the richest level that fits; then drop what still does not.
  for (let level = 0; level < 3; level++) {
    const body = assemble(
      head,
      sectionTitle,
      details.map((d) => `${d.heading}\n\n${d.variants[level]}`),
      footer
    )
    if (body.length <= budget) return body
  }
  const kept: string[] = []
  for (const d of details) {
    const next = assemble(head, sectionTitle, [...kept, `${d.heading}\n\n${d.variants[2]}`], footer)
    if (next.length > budget - 200) break
    kept.push(`${d.heading}\n\n${d.variants[2]}`)
  }
  const omitted = details.length - kept.length
  const note = omitted
    ? [`_${omitted} more task report(s) omitted to fit GitHub's size limit; see the job summary._`]
    : []
  const body = assemble(head, sectionTitle, [...kept, ...note], footer)
  return body.length <= budget ? body : body.slice(0, budget - 20) + '\n\n_(truncated)_'
}

/** One line (plus a short tail when it failed) about the verify command. */
export function renderVerify(verify: NonNullable<FanoutResult['verify']>): string {
  const what = `\`${verify.command.replace(/`/g, "'")}\``
  if (verify.note) return `Verify (${verify.mode}): ⚠️ ${what} — ${verify.note}.`
  if (verify.ok) return `Verify (${verify.mode}): ✅ ${what} passes on the integration branch.`
  const tail = verify.tail.split('\n').slice(-15).join('\n')
  return `Verify (${verify.mode}): ❌ ${what} fails on the integration branch (exit ${verify.exitCode ?? 'killed'}).\n\n${fence(tail, 'text')}`
}

function assemble(head: string[], title: string[], sections: string[], footer: string): string {
  return [...head, ...title, sections.join('\n\n')].join('\n').trimEnd() + footer + '\n'
}
