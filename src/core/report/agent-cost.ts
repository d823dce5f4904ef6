// What agents reported about their work (AgentReport: cost, tokens, summary, refused tool calls)
// and how often they were started (TaskResult.tries), as pieces of the reports. Summaries and
// refused commands are agent output: text and code spans only (mdast.ts), one line each.
import type { PhrasingContent, RootContent } from 'mdast'
import { formatUsd, roundUsd } from '../agents/budget.js'
import type { AgentReport } from '../agents/presets/types.js'
import type { TaskResult } from '../types.js'
import * as md from './mdast.js'

/** How the reason of a task that the cost cap kept from starting begins. */
export const NOT_STARTED = 'not started: '

/** The run's totals over the tasks whose agents reported figures. */
export interface RunTotals {
  /** Summed over the tasks that reported a cost; undefined when none did. */
  costUsd?: number
  inputTokens?: number
  outputTokens?: number
  /** Tasks that reported a cost, of `ran` tasks whose agent ran in this run. */
  withCost: number
  ran: number
}

export function runTotals(tasks: TaskResult[]): RunTotals {
  const totals: RunTotals = { withCost: 0, ran: 0 }
  for (const task of tasks) {
    const report = task.agentReport
    if (report || task.tries?.length) totals.ran++
    if (!report) continue
    if (report.costUsd !== undefined) {
      totals.withCost++
      totals.costUsd = roundUsd((totals.costUsd ?? 0) + report.costUsd)
    }
    if (report.inputTokens !== undefined)
      totals.inputTokens = (totals.inputTokens ?? 0) + report.inputTokens
    if (report.outputTokens !== undefined)
      totals.outputTokens = (totals.outputTokens ?? 0) + report.outputTokens
  }
  return totals
}

/** 12,345 */
export function formatTokens(count: number): string {
  return count.toLocaleString('en-US')
}

function tokensText(input?: number, output?: number): string {
  if (input === undefined && output === undefined) return '–'
  return `${input === undefined ? '?' : formatTokens(input)} in / ${output === undefined ? '?' : formatTokens(output)} out`
}

/**
 * The task table's extra columns as plain text, when any task reported cost or tokens (none
 * otherwise: a run of agents that report nothing keeps the table as it was). The markdown and
 * the terminal reports both draw on it, so their figures cannot differ.
 */
export function agentFigureColumns(
  tasks: TaskResult[]
): { headers: string[]; cells: (task: TaskResult) => string[] } | undefined {
  const reports = tasks.map((t) => t.agentReport).filter((r) => r !== undefined)
  const cost = reports.some((r) => r.costUsd !== undefined)
  const tokens = reports.some((r) => r.inputTokens !== undefined || r.outputTokens !== undefined)
  if (!cost && !tokens) return undefined
  return {
    headers: [...(cost ? ['Cost'] : []), ...(tokens ? ['Tokens'] : [])],
    cells: (task) => {
      const r = task.agentReport
      return [
        ...(cost ? [r?.costUsd === undefined ? '–' : formatUsd(r.costUsd)] : []),
        ...(tokens ? [tokensText(r?.inputTokens, r?.outputTokens)] : [])
      ]
    }
  }
}

/** agentFigureColumns for the markdown table. */
export function agentColumns(
  tasks: TaskResult[]
): { headers: string[]; cells: (task: TaskResult) => PhrasingContent[][] } | undefined {
  const columns = agentFigureColumns(tasks)
  if (!columns) return undefined
  return { headers: columns.headers, cells: (task) => columns.cells(task).map((c) => [md.text(c)]) }
}

/** "Agents' reported cost: $0.0420 (7 of 8 tasks) · tokens: 12,000 in / 800 out.", or nothing. */
export function totalsText(tasks: TaskResult[]): string | undefined {
  const totals = runTotals(tasks)
  const parts: string[] = []
  if (totals.costUsd !== undefined)
    parts.push(
      `Agents' reported cost: ${formatUsd(totals.costUsd)}${totals.withCost < totals.ran ? ` (${totals.withCost} of ${totals.ran} tasks reported one)` : ''}`
    )
  if (totals.inputTokens !== undefined || totals.outputTokens !== undefined)
    parts.push(`tokens: ${tokensText(totals.inputTokens, totals.outputTokens)}`)
  return parts.length ? `${parts.join(' · ')}.` : undefined
}

/** totalsText for the markdown report. */
export function totalsLine(tasks: TaskResult[]): PhrasingContent[] | undefined {
  const text = totalsText(tasks)
  return text === undefined ? undefined : [md.text(text)]
}

/** "2 attempts: rate limited by the model API (429); then merged" for a task started more than once. */
function triesText(task: TaskResult): string | undefined {
  const tries = task.tries ?? []
  if (tries.length < 2) return undefined
  return `${tries.length} attempts: ${tries.map((t) => t.outcome).join('; then ')}`
}

/**
 * One list item per task with something to say: its agent's summary, its attempts, the tool
 * calls its CLI refused (the work may be incomplete: tests it meant to run did not run). The
 * summary is cut to `summaryChars` (0 leaves it out), so that a report can shrink to fit.
 */
export function agentNotes(tasks: TaskResult[], summaryChars = 300): RootContent[] {
  const items: PhrasingContent[][] = []
  for (const task of tasks) {
    const parts: PhrasingContent[][] = []
    const summary = task.agentReport?.summary
    if (summary && summaryChars > 0) parts.push([md.untrusted(summary, summaryChars)])
    // A task the cost cap kept from starting says so (other skipped tasks are done or dropped).
    if (task.status === 'skipped' && task.reason?.startsWith(NOT_STARTED))
      parts.push([md.text('⏭️ '), md.untrusted(task.reason, 300)])
    const tries = triesText(task)
    if (tries) parts.push([md.text('🔁 '), md.untrusted(tries, 400)])
    const denials = task.agentReport?.permissionDenials ?? []
    if (denials.length)
      parts.push([
        md.text(
          `⚠️ its CLI refused ${denials.length} tool call${denials.length === 1 ? '' : 's'} for lack of permission (the work may be incomplete): `
        ),
        ...md.joined(
          denials.slice(0, 5).map((d) => [md.inline(d.slice(0, 100))]),
          ', '
        ),
        ...(denials.length > 5 ? [md.text(` and ${denials.length - 5} more`)] : [])
      ])
    if (parts.length)
      items.push([md.strong(md.untrusted(task.id, 40)), md.text(': '), ...md.joined(parts, ' ')])
  }
  return items.length ? [md.paragraph(md.strong(md.text('Agent notes'))), md.list(items)] : []
}

/**
 * A warning for the run's list when a task's CLI refused tool calls: the task keeps its status
 * (its work is what the agent wrote, merged as git merges it; verify-command is the gate for
 * tests), but nobody should read "merged" as "its tests ran".
 */
export function denialWarning(id: string, report: AgentReport): string | undefined {
  const denials = report.permissionDenials ?? []
  if (!denials.length) return undefined
  return `[${id}] its agent CLI refused ${denials.length} tool call(s) for lack of permission (${denials.slice(0, 3).join(', ')}${denials.length > 3 ? ', …' : ''}): its work may be incomplete (e.g. tests it meant to run did not run). Allow what tasks need with agent-args (see docs/agents.md).`
}

/**
 * A task's figures for the `tasks` output: numbers only (the agent's words stay out of step
 * outputs, which later steps may consume as data).
 */
export function agentFigures(task: TaskResult): Record<string, number> {
  const r = task.agentReport
  const figures: Record<string, number> = {}
  if (r?.costUsd !== undefined) figures.costUsd = r.costUsd
  if (r?.inputTokens !== undefined) figures.inputTokens = r.inputTokens
  if (r?.outputTokens !== undefined) figures.outputTokens = r.outputTokens
  if (r?.turns !== undefined) figures.turns = r.turns
  if (task.tries?.length) figures.attempts = task.tries.length
  return figures
}

/** The `total-cost-usd` output: the reported cost summed, '' when no agent reported one. */
export function totalCostOutput(tasks: TaskResult[]): string {
  const { costUsd } = runTotals(tasks)
  return costUsd === undefined ? '' : String(costUsd)
}
