import type { FanoutResult, TaskResult, TaskStatus } from '../types.js'
import { agentFigureColumns, totalsText } from './agent-cost.js'
import { formatDuration, noTaskChangedAnything, summaryLine } from './markdown.js'
import { quotePath } from './mdast.js'

// The report for a terminal (the CLI), built from the same results as the markdown reports:
// plain lines, aligned columns, commands a local user can paste. Text from agents, git and the
// issue goes through `terminalLine`/`terminalBlock` only: a terminal obeys escape sequences
// (colours, cursor moves, window titles, links that hide where they go), so none reaches it.

export interface TerminalContext {
  /** Replaces the counts in the first line (e.g. "cancelled (SIGINT) — 2 merged"). */
  headline?: string
  /**
   * The commands that go on from here, as the user would type them (the CLI knows how it was
   * invoked); without them, the steps name the subcommand only.
   */
  commands?: { retry(id: string): string; drop(id: string): string }
}

export const STATUS: Record<TaskStatus, string> = {
  merged: '✓ merged',
  'merged-after-rerun': '✓ merged after re-run',
  'merged-after-resolve': '✓ merged after resolve',
  'merged-by-hand': '✓ merged by hand',
  'broke-verify': '✗ broke verify',
  conflicted: '! conflicted',
  failed: '✗ failed',
  'no-changes': '- no changes',
  skipped: '- skipped',
  queued: '… queued',
  ready: '… ready'
}

// CSI (ESC [ … final byte, or its one-byte form 0x9b) and OSC (ESC ] … BEL or ESC \) sequences
// go whole: removing only the ESC would leave their parameters on screen as noise.
// eslint-disable-next-line no-control-regex
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b./g
// Every other control character (C0, DEL, C1) and the bidirectional overrides that reorder
// what a terminal shows ("Trojan source").
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Untrusted text as one line of at most `max` characters, with nothing a terminal obeys. */
export function terminalLine(value: string, max = 200): string {
  const line = value.replace(ESCAPE_SEQUENCE, '').replace(/\s+/g, ' ').replace(CONTROL, '�').trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

/**
 * Untrusted multi-line text (an agent's output) for a terminal: escape sequences removed, a
 * carriage return taken as a line break (progress bars), other control characters replaced.
 */
export function terminalBlock(value: string): string {
  return value
    .replace(ESCAPE_SEQUENCE, '')
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, '  ')
    .replace(CONTROL, '�')
}

/** Indents every line of a block (a log tail, conflict hunks) under its heading. */
function indented(block: string, prefix = '    │ '): string[] {
  return terminalBlock(block)
    .replace(/\n+$/, '')
    .split('\n')
    .map((line) => `${prefix}${line}`)
}

function lastLines(output: string, lines: number): string {
  return output.replace(/\n+$/, '').split('\n').slice(-lines).join('\n')
}

const files = (n: number): string => (n === 1 ? '1 file' : `${n} files`)

/** " (after T1, T2)": the tasks it builds on, as the markdown report's "After" column. */
function after(t: TaskResult): string {
  return t.dependsOn?.length ? ` (after ${terminalLine(t.dependsOn.join(', '), 200)})` : ''
}

/**
 * The task table: one aligned row per task, with the cost and tokens its agent reported when
 * any agent reported them (the markdown report's figures), its (untrusted) title last.
 */
function taskRows(tasks: TaskResult[]): string[] {
  const id = Math.max(4, ...tasks.map((t) => terminalLine(t.id, 40).length))
  const status = Math.max(...tasks.map((t) => STATUS[t.status].length))
  const figures = agentFigureColumns(tasks)
  const cells = tasks.map((t) => figures?.cells(t).map((c) => terminalLine(c, 40)) ?? [])
  const widths = (figures?.headers ?? []).map((_, i) => Math.max(...cells.map((c) => c[i].length)))
  return tasks.map((t, row) =>
    [
      ' ',
      terminalLine(t.id, 40).padEnd(id),
      STATUS[t.status].padEnd(status),
      formatDuration(t.durationMs).padStart(7),
      files(t.changedFiles.length).padStart(9),
      ...cells[row].map((c, i) => c.padStart(widths[i])),
      ` ${terminalLine(t.title, 100)}${after(t)}${t.reused ? ' (from an earlier run)' : ''}`
    ].join(' ')
  )
}

function retry(ctx: TerminalContext, id: string): string {
  return ctx.commands?.retry(id) ?? `agent-fanout retry ${id} …`
}

function drop(ctx: TerminalContext, id: string): string {
  return ctx.commands?.drop(id) ?? `agent-fanout drop ${id} …`
}

function conflictSection(t: TaskResult, integration: string, ctx: TerminalContext): string[] {
  const c = t.conflict!
  const id = terminalLine(t.id, 40)
  const out = [
    `  Branch with its work: ${t.branch}`,
    `  Conflicting files: ${c.files.length ? c.files.map(quotePath).join(', ') : '(none at file level; see what git says)'}`
  ]
  if (c.withTasks?.length)
    out.push(
      `  Collides with: ${c.withTasks.map((w) => `${terminalLine(w.id, 40)} (${w.branch})`).join(', ')}, already merged`
    )
  for (const a of t.attempts ?? [])
    out.push(`  Tried ${a.strategy}: ${terminalLine(a.outcome, 300)}`)
  if (c.messages.length) out.push('  git says:', ...indented(c.messages.join('\n')))
  for (const h of c.hunks) out.push(`  ${quotePath(h.file)}:`, ...indented(h.text))
  out.push(
    "  How to go on (the task's work is safe on its branch):",
    `    resolve by hand:   git switch ${integration} && git merge ${t.branch}`,
    '                       fix the files, commit; the next run keeps your commit (merged by hand)',
    `    run it again on the merged result (reword the task to build on the others first):`,
    `                       ${retry(ctx, id)}`,
    `    leave it out:      ${drop(ctx, id)}`
  )
  return out
}

function outputSection(t: TaskResult, ctx: TerminalContext): string[] {
  const out = [`  Why: ${terminalLine(t.reason ?? 'unknown', 300)}`]
  if (t.logTail?.trim())
    out.push('  Last lines of its output:', ...indented(lastLines(t.logTail, 15)))
  else if (t.logTail !== undefined) out.push('  The agent printed nothing.')
  if (t.logFile) out.push(`  Full log: ${terminalLine(t.logFile, 500)}`)
  if (t.status === 'failed') out.push(`  Run it again: ${retry(ctx, terminalLine(t.id, 40))}`)
  return out
}

function brokeVerifySection(t: TaskResult, ctx: TerminalContext): string[] {
  return [
    `  Branch with its work: ${t.branch}. It merged cleanly, but the verify command failed with it, so it was taken back out.`,
    ...(t.verifyTail
      ? ['  Last lines of the verify output:', ...indented(lastLines(t.verifyTail, 15))]
      : []),
    `  Run it again: ${retry(ctx, terminalLine(t.id, 40))}`
  ]
}

function verifyLines(verify: NonNullable<FanoutResult['verify']>): string[] {
  const what = `Verify (${verify.mode}): ${terminalLine(verify.command, 200)}`
  if (verify.note) return [`${what} — ${terminalLine(verify.note, 300)}`]
  if (verify.ok) return [`${what} passes on the integration branch.`]
  return [
    `${what} fails on the integration branch (exit ${verify.exitCode ?? 'killed'}):`,
    ...indented(lastLines(verify.tail, 15))
  ]
}

/** The whole report, as lines of plain text ending in a newline. */
export function renderTerminalReport(result: FanoutResult, ctx: TerminalContext = {}): string {
  const integration = result.integrationBranch
  const merged = result.tasks.filter((t) => t.status.startsWith('merged')).length
  const lines = [
    `agent-fanout: ${ctx.headline ?? (summaryLine(result) || 'no tasks')}`,
    '',
    `Base: ${result.baseBranch} at ${result.baseSha.slice(0, 12)}`,
    `Integration branch: ${integration} at ${result.integrationSha.slice(0, 12)} (${merged} of ${result.tasks.length} tasks merged)`,
    ...(result.verify ? verifyLines(result.verify) : [])
  ]
  if (noTaskChangedAnything(result))
    lines.push(
      '',
      'warning: no agent changed anything: the agent command likely cannot write files (Claude Code without --permission-mode acceptEdits, say).'
    )
  for (const warning of result.warnings ?? [])
    lines.push('', `warning: ${terminalLine(warning, 600)}`)
  lines.push('', ...taskRows(result.tasks))
  const totals = totalsText(result.tasks)
  if (totals) lines.push('', terminalLine(totals, 300))

  for (const t of result.tasks) {
    const head = `${terminalLine(t.id, 40)} ${t.status}: ${terminalLine(t.title, 100)}`
    if (t.status === 'conflicted' && t.conflict)
      lines.push('', head, ...conflictSection(t, integration, ctx))
    else if (t.status === 'broke-verify') lines.push('', head, ...brokeVerifySection(t, ctx))
    else if (t.status === 'failed' || (t.status === 'no-changes' && t.logTail !== undefined))
      lines.push('', head, ...outputSection(t, ctx))
  }
  // Why a task was left out, one line each (a task checked off in the list needs no word).
  const skipped = result.tasks.filter(
    (t) => t.status === 'skipped' && t.reason && t.reason !== 'checked in the issue (done)'
  )
  if (skipped.length)
    lines.push(
      '',
      'Skipped:',
      ...skipped.map((t) => `  ${terminalLine(t.id, 40)}: ${terminalLine(t.reason!, 300)}`)
    )
  if (merged > 0) {
    const detached = result.baseBranch === 'HEAD'
    lines.push(
      '',
      'Next:',
      `  see what merged:  git log --oneline --graph ${detached ? result.baseSha.slice(0, 12) : result.baseBranch}..${integration}`,
      detached
        ? `  take it:          git merge ${integration}`
        : `  take it:          git switch ${result.baseBranch} && git merge ${integration}`
    )
  }
  return `${lines.join('\n')}\n`
}
