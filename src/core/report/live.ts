// The status comment while a run goes: a model of the run built from its events (events.ts) and
// its rendering. The action edits the comment with it (github/live-comment.ts paces the edits);
// nothing here knows GitHub beyond the links it is given.
//
// The model starts from the task list, before the run has fetched anything, so the comment can
// appear in the run's first seconds: every open task `queued`. Events then move each row along:
// `planned` (what the run does with each task), `started` (its agent runs), `finished` (the
// agent stage's result), `integrating` (all agents done, merging), `done` (final statuses).

import type { PhrasingContent, RootContent } from 'mdast'
import type { PlannedTask, RunEvent } from '../events.js'
import type { TaskResult, TaskStatus } from '../types.js'
import { STATUS_LABEL } from './markdown.js'
import * as md from './mdast.js'
import { clockTime, humanDuration } from './time.js'

export type LivePhase = 'preparing' | 'running' | 'integrating' | 'done'

export interface LiveRow {
  id: string
  title: string
  branch: string
  /** queued/running until its agent stage ends; then the result's status. */
  state: 'queued' | 'running' | TaskStatus
  /** Not run by this run (checked, dropped, reused, kept): shown, never queued. */
  action: PlannedTask['action']
  startedAt?: number
  finishedAt?: number
  result?: TaskResult
  /** Where its full log is (an artifact), once uploaded. */
  logUrl?: string
  /** Its branch is on the remote (pushed): its row links to it. */
  pushed?: boolean
}

export interface LiveState {
  phase: LivePhase
  startedAt: number
  rows: LiveRow[]
}

/** The state before any event: every open task queued, checked ones skipped. */
export function initialLiveState(
  tasks: { id: string; title: string; branch: string; checked?: boolean }[],
  startedAt: number
): LiveState {
  return {
    phase: 'preparing',
    startedAt,
    rows: tasks.map((t) => ({
      id: t.id,
      title: t.title,
      branch: t.branch,
      state: t.checked ? 'skipped' : 'queued',
      action: t.checked ? 'drop' : 'run'
    }))
  }
}

/** The state after one event (a new object; the old one is left as it was). */
export function applyLiveEvent(state: LiveState, event: RunEvent): LiveState {
  const rows = state.rows.map((r) => ({ ...r }))
  const row = (id: string): LiveRow | undefined => rows.find((r) => r.id === id)
  switch (event.kind) {
    case 'planned':
      for (const planned of event.tasks) {
        const r = row(planned.id)
        if (!r) continue
        r.action = planned.action
        if (planned.action !== 'run' && r.state === 'queued') r.state = 'skipped'
      }
      return { ...state, phase: 'running', rows }
    case 'started': {
      const r = row(event.taskId)
      if (r && !r.result) {
        r.state = 'running'
        r.startedAt ??= event.at
      }
      return { ...state, phase: state.phase === 'preparing' ? 'running' : state.phase, rows }
    }
    case 'finished': {
      const r = row(event.result.id)
      if (r) settle(r, event.result, event.at)
      return { ...state, rows }
    }
    case 'integrating':
      return { ...state, phase: 'integrating', rows }
    case 'done':
      for (const result of event.tasks) {
        const r = row(result.id)
        if (r) settle(r, result, r.finishedAt ?? event.at)
      }
      return { ...state, phase: 'done', rows }
  }
}

function settle(row: LiveRow, result: TaskResult, at: number): void {
  row.result = result
  row.state = result.status
  row.startedAt = result.startedAt ?? row.startedAt
  row.finishedAt = result.finishedAt ?? (row.startedAt !== undefined ? at : undefined)
  row.logUrl = result.logUrl ?? row.logUrl
}

/** Sets what is known later than the event (an uploaded log, a pushed branch). */
export function annotateRow(
  state: LiveState,
  id: string,
  extra: Pick<LiveRow, 'logUrl' | 'pushed'>
): LiveState {
  return { ...state, rows: state.rows.map((r) => (r.id === id ? { ...r, ...extra } : r)) }
}

export interface LiveContext {
  /** Hidden markers placed first (the status marker, the recorded state of earlier runs). */
  marker: string
  issueNumber: number
  runUrl?: string
  /** The web page of a branch on the repository, for branches that are pushed. */
  branchUrl?: (branch: string) => string | undefined
  /** Now, for the "running for" column of running tasks. */
  now: number
}

const LIVE_LABEL: Record<'queued' | 'running' | 'ready', string> = {
  queued: '⏳ queued',
  running: '🏃 running',
  // Its agent is done and its branch waits for the merge (at the end of the run).
  ready: '📦 done, to be merged'
}

const PHASE_LINE: Record<LivePhase, string> = {
  preparing: 'preparing: fetching the base branch and setting up worktrees',
  running: 'agents at work',
  integrating: 'every agent is done; merging the task branches',
  done: 'merged; pushing the branches and opening the pull request'
}

/** Counts like "2 running, 1 queued, 3 done". */
function progressLine(state: LiveState): string {
  const counts = { running: 0, queued: 0, done: 0 }
  for (const r of state.rows) {
    if (r.state === 'running') counts.running++
    else if (r.state === 'queued') counts.queued++
    else if (r.action === 'run') counts.done++
  }
  return (['running', 'queued', 'done'] as const)
    .filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${k}`)
    .join(', ')
}

function rowCells(row: LiveRow, ctx: LiveContext): PhrasingContent[][] {
  const label =
    row.state === 'queued' || row.state === 'running' || row.state === 'ready'
      ? LIVE_LABEL[row.state]
      : STATUS_LABEL[row.state]
  const status: PhrasingContent[] = [md.text(label)]
  const duration =
    row.startedAt === undefined
      ? '–'
      : row.finishedAt !== undefined
        ? humanDuration(row.finishedAt - row.startedAt)
        : `${humanDuration(ctx.now - row.startedAt)} so far`
  const branchUrl = row.pushed ? ctx.branchUrl?.(row.branch) : undefined
  return [
    [md.untrusted(row.id, 40)],
    [md.untrusted(row.title)],
    status,
    [md.text(row.startedAt === undefined ? '–' : clockTime(row.startedAt))],
    [md.text(duration)],
    branchUrl ? [md.link(branchUrl, md.inline(row.branch))] : [md.inline(row.branch)],
    row.logUrl ? [md.link(row.logUrl, md.text('log'))] : [md.text('–')]
  ]
}

/** The status comment while the run goes: headline, where to watch it, the task table. */
export function renderLiveStatus(state: LiveState, ctx: LiveContext): string {
  const progress = progressLine(state)
  const lines: PhrasingContent[][] = [
    [md.text(`Started ${clockTime(state.startedAt)}; ${PHASE_LINE[state.phase]}.`)]
  ]
  if (ctx.runUrl)
    lines.push([
      md.text('Follow it in the '),
      md.link(ctx.runUrl, md.text('workflow run')),
      md.text('; this comment is updated as tasks finish.')
    ])
  const nodes: RootContent[] = [
    md.html(ctx.marker),
    md.heading(3, md.text(`agent-fanout: running${progress ? ` — ${progress}` : ''}`)),
    md.paragraph(...md.joined(lines, '\n')),
    md.table([
      ['Task', 'Title', 'Status', 'Started', 'Duration', 'Branch', 'Log'].map((h) => [md.text(h)]),
      ...state.rows.map((r) => rowCells(r, ctx))
    ])
  ]
  return md.serialize(nodes)
}
