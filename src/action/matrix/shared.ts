// What the three matrix jobs share: the plan record, the task jobs' reports, the status rows.

import { waitingResult } from '../../core/run/rounds.js'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { taskBranchName } from '../../core/branches.js'
import { fetchBranch, fetchOwnRefs, listRemoteRefs } from '../../core/git/remote.js'
import { renderMatrixStatus } from '../../core/report/markdown.js'
import {
  checkedExtras,
  parseReportObject,
  readReport,
  reportRef,
  type TaskReport
} from '../../core/results.js'
import type { TaskResult } from '../../core/types.js'
import { statusMarker, upsertStatusComment } from '../../github/publish.js'
import { runLink, type Run } from '../steps.js'
import { noteAgentFields, noteRowFields, runningTasks } from '../live-matrix.js'
import { branchUrl } from '../live-status.js'
import { encodeState, recordedResult, type PlanRecord, type RunState } from '../state.js'

/** The artifact (and folder) name the merge job looks for, by task ID only. */
export function artifactName(taskId: string): string {
  return `agent-fanout-${taskId}`
}

export function workspaceDir(): string {
  return process.env.GITHUB_WORKSPACE || process.cwd()
}

export function requirePlan(
  state: RunState | undefined,
  issueNumber: number,
  mode: 'task' | 'merge'
): PlanRecord {
  const plan = state?.plan
  const runId = process.env.GITHUB_RUN_ID ?? ''
  if (!plan) {
    throw new Error(
      `No plan found on #${issueNumber}: a mode ${mode} job works from the plan that a mode plan job of the same workflow run records in the status comment. Run the plan job first and make this job need it (see examples/matrix.yml).`
    )
  }
  if (plan.runId !== runId) {
    throw new Error(
      `The plan on #${issueNumber} was made by workflow run ${plan.runId || '(unknown)'}, not by this one (${runId || 'unknown'}): a mode ${mode} job only works from a plan of its own workflow run. Another run may have planned the issue since; use a concurrency group per issue (see examples/matrix.yml).`
    )
  }
  return plan
}

/** A task job's note on the remote: its ref and the notes commit it held when read. */
export interface NoteRef {
  ref: string
  sha: string
}

/**
 * The task jobs' reports that belong to this plan, by task ID, and the issue's notes that do
 * not (earlier plans' results; none in secure mode, where reports come as artifacts).
 */
export async function fetchReports(
  r: Run,
  issueNumber: number,
  record: PlanRecord
): Promise<{ reports: Map<string, TaskReport>; stale: NoteRef[] }> {
  if (r.inputs.resultsDir)
    return { reports: await readResultFiles(r, r.inputs.resultsDir, record), stale: [] }
  const refs = await listRemoteRefs(r.git, 'origin', reportRef(issueNumber), r.auth)
  await fetchOwnRefs(r.git, 'origin', [...refs.keys()], r.auth)
  const reports = new Map<string, TaskReport>()
  const current = new Set<string>()
  for (const entry of record.tasks.filter((t) => t.mode === 'run')) {
    const ref = reportRef(issueNumber, entry.id)
    const sha = refs.get(ref)
    if (!sha) continue
    const report = await readReport(r.git, sha, entry.id)
    if (report && report.plan === record.id && report.hash === entry.hash) {
      reports.set(entry.id, report)
      current.add(ref)
    }
  }
  const stale = [...refs].filter(([ref]) => !current.has(ref)).map(([ref, sha]) => ({ ref, sha }))
  return { reports, stale }
}

/**
 * Secure mode: the task jobs' artifacts, downloaded under `dir`, one folder per task named by
 * artifactName. What an artifact holds was made next to an agent, so it is checked: the report
 * must be for this folder's task and this plan, and the bundle's branch must end at the tip the
 * report names (git checks the objects as it fetches them).
 */
async function readResultFiles(
  r: Run,
  dir: string,
  record: PlanRecord
): Promise<Map<string, TaskReport>> {
  const reports = new Map<string, TaskReport>()
  for (const entry of record.tasks.filter((t) => t.mode === 'run')) {
    const folder = path.join(path.resolve(workspaceDir(), dir), artifactName(entry.id))
    const text = await readFile(path.join(folder, 'report.json'), 'utf8').catch(() => undefined)
    if (text === undefined) continue
    const ignore = (why: string): void =>
      r.logger.warning(`Ignored the result in ${folder}: ${why}`)
    let report = parseReportObject(text) as TaskReport | undefined
    if (!report) {
      ignore('report.json is not a JSON object')
      continue
    }
    if (report.version !== 1 || report.task !== entry.id) {
      ignore(`it is not a report of task ${entry.id}`)
      continue
    }
    if (report.plan !== record.id || report.hash !== entry.hash) {
      ignore('it belongs to another plan')
      continue
    }
    if (
      !['ready', 'failed', 'no-changes'].includes(report.status) ||
      !Array.isArray(report.changedFiles)
    ) {
      ignore('the report is malformed')
      continue
    }
    report = checkedExtras(report)
    if (report.status === 'ready' || (report.status === 'failed' && report.tip)) {
      const imported = `refs/agent-fanout/import/${entry.id}`
      const fetched = await r.git.run(
        [
          'fetch',
          '--no-tags',
          '--no-auto-maintenance',
          path.join(folder, 'task.bundle'),
          `+refs/heads/${taskBranchName(r.prefix, entry.id)}:${imported}`
        ],
        { config: { 'fetch.fsckObjects': 'true' }, okExitCodes: [1, 128] }
      )
      const tip = await r.git.run(['rev-parse', '-q', '--verify', `${imported}^{commit}`], {
        okExitCodes: [1]
      })
      if (fetched.exitCode !== 0 || tip.stdout.trim() !== report.tip) {
        ignore(
          `its bundle does not hold the branch at ${String(report.tip).slice(0, 12)}${fetched.exitCode ? `: ${fetched.stderr.trim().split('\n').pop()}` : ''}`
        )
        continue
      }
    }
    reports.set(entry.id, report)
  }
  return reports
}

/**
 * Redraws the status comment from the plan and every result on the remote. Task jobs finish
 * in any order and each rewrites the whole comment, so after writing, a job looks again: if
 * results arrived meanwhile it writes again. The last writer has therefore seen every result
 * pushed before its final look, and any later result's job writes after it: no row is lost.
 */
export async function updateRows(
  r: Run,
  issueNumber: number,
  record: PlanRecord,
  state: RunState
): Promise<number | undefined> {
  let seen = ''
  let commentId: number | undefined
  for (let round = 0; round < 10; round++) {
    const refs = await listRemoteRefs(r.git, 'origin', reportRef(issueNumber), r.auth)
    const now = [...refs]
      .map(([ref, sha]) => `${ref}=${sha}`)
      .sort()
      .join('\n')
    if (now === seen) return commentId
    const { reports } = await fetchReports(r, issueNumber, record)
    const rows = planRows(record, state, reports, r.prefix)
    const waiting = rows.filter((t) => t.status === 'queued').length
    const running = runningTasks(reports)
    const reported = reports.size - running.size
    const body = matrixStatus(
      issueNumber,
      encodeState(state),
      rows,
      waiting
        ? `${reported} of ${reported + waiting} task job(s) reported${running.size ? `, ${running.size} running` : ''}`
        : 'every task job reported; the merge job merges next',
      running
    )
    try {
      commentId = (await upsertStatusComment(r.api, issueNumber, body, r.logger)).id
    } catch (error) {
      // A row is a courtesy; the result is on the remote and the merge job reports it.
      r.logger.warning(`Could not update the status comment: ${String(error)}`)
      return undefined
    }
    seen = now
  }
  return commentId
}

/** The table rows of a plan: queued, reported by a task job, or carried over from earlier. */
export function planRows(
  record: PlanRecord,
  state: RunState,
  reports: Map<string, TaskReport>,
  prefix: string
): TaskResult[] {
  return record.tasks.map((entry): TaskResult => {
    const row = planRow(entry, state, reports, prefix)
    return entry.dependsOn?.length ? { ...row, dependsOn: entry.dependsOn } : row
  })
}

/** One row of planRows, before its "After" cell. */
function planRow(
  entry: PlanRecord['tasks'][number],
  state: RunState,
  reports: Map<string, TaskReport>,
  prefix: string
): TaskResult {
  const base = {
    id: entry.id,
    title: entry.title,
    branch: taskBranchName(prefix, entry.id),
    changedFiles: [] as string[],
    durationMs: 0
  }
  const kept = state.tasks[entry.id]
  switch (entry.mode) {
    case 'skipped':
      return { ...base, status: 'skipped', reason: 'checked in the issue (done)' }
    case 'drop':
      return { ...base, status: 'skipped', reason: 'dropped with /fanout drop' }
    case 'wait':
      return waitingResult(entry, base.branch, entry.waitsFor ?? [])
    case 'reuse':
    case 'keep':
      return kept
        ? { ...recordedResult(entry.id, entry.title, kept), reused: entry.mode === 'reuse' }
        : { ...base, status: 'skipped', reason: 'not run yet' }
    default: {
      const report = reports.get(entry.id)
      // A `running` note: its agent runs now (live-matrix.ts); the row stays queued.
      if (!report || report.running)
        return { ...base, status: 'queued', ...(report ? noteRowFields(report) : {}) }
      return {
        ...base,
        ...noteRowFields(report),
        ...noteAgentFields(report),
        status: report.status,
        changedFiles: report.changedFiles,
        durationMs: report.durationMs,
        ...(report.tip ? { commit: report.tip } : {}),
        ...(report.reason ? { reason: report.reason } : {})
      }
    }
  }
}

export function matrixStatus(
  issueNumber: number,
  state: string,
  rows: TaskResult[],
  headline: string,
  running?: Map<string, number>
): string {
  return renderMatrixStatus({
    marker: `${statusMarker(issueNumber)}\n${state}`,
    headline,
    rows,
    runUrl: runLink(),
    branchUrl: (b) => branchUrl(b),
    running
  })
}

/** Makes sure `sha` (the plan's base) is here, fetching it when the workspace lacks it. */
export async function ensureCommit(r: Run, branch: string, sha: string): Promise<void> {
  const have = (): Promise<boolean> => r.git.test(['cat-file', '-e', `${sha}^{commit}`])
  if (await have()) return
  const tip = await fetchBranch(r.git, 'origin', branch, r.auth)
  if (tip === sha || (await have())) return
  // The base moved since the plan: fetch the planned commit itself.
  await r.git.run(['fetch', '--no-tags', '--no-auto-maintenance', '--depth=1', 'origin', sha], {
    config: r.auth,
    okExitCodes: [1, 128]
  })
  if (!(await have()))
    throw new Error(
      `The plan's base commit ${sha} of ${branch} could not be fetched from origin; plan again.`
    )
}
