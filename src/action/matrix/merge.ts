// mode merge: every task job's result collected into a plan the engine merges like `run`.

import { waitingResult } from '../../core/run/rounds.js'
import * as core from '@actions/core'
import { taskBranchName } from '../../core/branches.js'
import { failedResult } from '../../core/run/task-result.js'
import type { TaskPlan } from '../../core/engine.js'
import {
  ensureMergeBases,
  fetchBranches,
  listRemoteBranches,
  pushRefs
} from '../../core/git/remote.js'
import type { TaskReport } from '../../core/results.js'
import type { Task } from '../../core/types.js'
import { errorMessage } from '../../core/util/errors.js'
import { findStatusComments } from '../../github/publish.js'
import {
  fetchReused,
  keepOrStop,
  readIssue,
  readTasks,
  runAndPublish,
  withIssueLock,
  type PreparedRun,
  type Run
} from '../steps.js'
import { decodeState, keptResult, taskHash, type PlanRecord, type RunState } from '../state.js'
import { noteAgentFields, noteRowFields } from '../live-matrix.js'
import { ensureCommit, fetchReports, requirePlan, type NoteRef } from './shared.js'

/** mode merge: collect every task job's result, merge like `run`, publish, report. */
export async function mergeJob(r: Run): Promise<void> {
  const { api, logger, inputs } = r
  const issue = await readIssue(r)
  core.saveState('issueNumber', String(issue.number))
  const tasks = await readTasks(api, issue, inputs, logger)
  if (!tasks) return
  await withIssueLock(r, issue.number, async () => {
    const statusComments = await findStatusComments(api, issue.number)
    const previous = decodeState(statusComments[0]?.body)
    const record = requirePlan(previous, issue.number, 'merge')
    const prepared = await logger.group('Collect the results of the task jobs', () =>
      collectTaskJobs(r, issue.number, record, previous!, tasks)
    )
    const outcome = await runAndPublish(
      r,
      record.command,
      issue,
      prepared.tasks,
      previous,
      statusComments,
      prepared
    )
    await removeNotes(r, prepared.staleNotes)
    return outcome
  })
}

/**
 * The plan the merge job hands to the engine: each task job's branch (as its note recorded it)
 * to merge, its failure to show, or "no result" when its job never reported.
 */
async function collectTaskJobs(
  r: Run,
  issueNumber: number,
  record: PlanRecord,
  previous: RunState,
  current: Task[]
): Promise<PreparedRun & { tasks: Task[]; staleNotes: NoteRef[] }> {
  const { git, logger } = r
  await ensureCommit(r, record.baseBranch, record.baseSha)
  const base = { branch: record.baseBranch, sha: record.baseSha }
  const remoteTips = await listRemoteBranches(git, 'origin', r.prefix, r.auth)
  const { reports, stale } = await fetchReports(r, issueNumber, record)
  const { plan, tasks, ready } = planFromReports(r, record, previous, current, reports, remoteTips)
  const mergeable = await fetchReadyWork(r, ready, plan, remoteTips)
  await ensureMergeBases(
    git,
    'origin',
    base,
    mergeable.map((m) => ({ branch: m.branch, sha: m.report.tip! })),
    r.auth
  )
  await planMerges(r, record, mergeable, plan)
  const keep = await keepOrStop(r, {
    tasks,
    plan,
    previous,
    remoteTips,
    base,
    command: record.command
  })
  for (const task of tasks) {
    const decided = keep.plan.get(task.id)
    const branch = taskBranchName(r.prefix, task.id)
    if (decided?.mode === 'reuse' && remoteTips.get(branch) !== decided.tip)
      keepFailed(
        plan,
        task,
        branch,
        `its earlier branch ${branch} moved after the plan; run it again`
      )
    else if (decided) plan.set(task.id, decided)
  }
  await fetchReused(r, tasks, plan, base, remoteTips)
  const ranNow = new Set(record.tasks.filter((t) => t.mode === 'run').map((t) => t.id))
  logger.info(
    `Task jobs: ${mergeable.length} to merge, ${[...ranNow].length - mergeable.length} without a mergeable result`
  )
  return {
    plan,
    dropped: previous.dropped,
    ranNow,
    baseBranch: record.baseBranch,
    baseSha: record.baseSha,
    remoteTips,
    planRecord: record,
    keep,
    tasks,
    staleNotes: stale,
    // The task jobs' times and log links, for the rows and the timeline.
    rows: new Map([...reports].map(([id, report]) => [id, noteRowFields(report)]))
  }
}

/** Ready work reported by a task job: merged once its commit is here and checked. */
interface ReadyWork {
  task: Task
  report: TaskReport
  branch: string
}

/**
 * Each planned task as the plan record and the task jobs' reports say: dropped, reused, kept,
 * failed (its text changed, or its job left no result), or ready work to check and merge.
 */
function planFromReports(
  r: Run,
  record: PlanRecord,
  previous: RunState,
  current: Task[],
  reports: Map<string, TaskReport>,
  remoteTips: Map<string, string>
): { plan: Map<string, TaskPlan>; tasks: Task[]; ready: ReadyWork[] } {
  const byId = new Map(current.map((t) => [t.id, t]))
  const plan = new Map<string, TaskPlan>()
  const tasks: Task[] = []
  const ready: ReadyWork[] = []
  record.tasks.forEach((entry, index) => {
    const now = byId.get(entry.id)
    const task: Task = now ?? {
      id: entry.id,
      idSource: 'explicit',
      position: index + 1,
      title: entry.title,
      body: '',
      checked: false
    }
    if (entry.mode === 'skipped') {
      tasks.push({ ...task, checked: true })
      return
    }
    tasks.push({ ...task, checked: false })
    const branch = taskBranchName(r.prefix, entry.id)
    const planned =
      entry.mode === 'run'
        ? planRanTask(entry, now, task, branch, reports.get(entry.id))
        : planRecordedTask(entry, task, branch, previous, remoteTips)
    if ('report' in planned) ready.push(planned)
    else plan.set(task.id, planned)
  })
  return { plan, tasks, ready }
}

type PlanEntry = PlanRecord['tasks'][number]

/** A task the plan did not give a job: dropped, waiting, reused or kept as recorded. */
function planRecordedTask(
  entry: PlanEntry,
  task: Task,
  branch: string,
  previous: RunState,
  remoteTips: Map<string, string>
): TaskPlan {
  if (entry.mode === 'drop') return { mode: 'drop' }
  if (entry.mode === 'wait')
    return { mode: 'keep', result: waitingResult(task, branch, entry.waitsFor ?? []) }
  if (entry.mode === 'reuse') {
    const kept = previous.tasks[entry.id]
    // A branch that moved may hold commits by people (the plan job reuses such a branch):
    // keepOrStop below decides; what is still not where it was is reported as moved.
    if (kept?.commit && remoteTips.has(branch))
      return {
        mode: 'reuse',
        tip: kept.commit,
        changedFiles: kept.changedFiles,
        durationMs: kept.durationMs
      }
    return failedPlan(
      task,
      branch,
      `its earlier branch ${branch} moved after the plan; run it again`
    )
  }
  return { mode: 'keep', result: keptResult(task, previous.tasks[entry.id], branch) }
}

/** A task a job ran: its report's ready work, or its result kept as the job reported it. */
function planRanTask(
  entry: PlanEntry,
  now: Task | undefined,
  task: Task,
  branch: string,
  report: TaskReport | undefined
): TaskPlan | ReadyWork {
  if (!now || taskHash(now) !== entry.hash)
    return failedPlan(
      task,
      branch,
      'its text changed after the plan job read the issue; plan again'
    )
  if (!report)
    return failedPlan(
      task,
      branch,
      `its task job left no result (it failed before reporting, was cancelled, or never ran); its branch ${branch} was not merged. See the workflow run, then run again`
    )
  if (report.status === 'ready') return { task, report, branch }
  return {
    mode: 'keep',
    result: {
      id: task.id,
      title: task.title,
      status: report.status,
      branch,
      changedFiles: report.changedFiles,
      durationMs: report.durationMs,
      reason: report.reason,
      // Work a failed task kept on its branch: its branch stays on origin.
      ...(report.tip ? { commit: report.tip } : {}),
      ...(report.exitCode !== undefined ? { exitCode: report.exitCode } : {}),
      ...(report.timedOut ? { timedOut: true } : {}),
      ...(report.logTail ? { logTail: report.logTail } : {}),
      ...noteAgentFields(report)
    }
  }
}

/** Fetches the ready work; work whose commit origin no longer holds fails its task. */
async function fetchReadyWork(
  r: Run,
  ready: ReadyWork[],
  plan: Map<string, TaskPlan>,
  remoteTips: Map<string, string>
): Promise<ReadyWork[]> {
  const { git } = r
  const present = ready.filter(({ branch }) => remoteTips.has(branch)).map((x) => x.branch)
  if (present.length) await fetchBranches(git, 'origin', present, r.auth)
  const mergeable: typeof ready = []
  for (const item of ready) {
    const tip = item.report.tip!
    if (!(await git.test(['cat-file', '-e', `${tip}^{commit}`])))
      await git.run(['fetch', '--no-tags', '--no-auto-maintenance', 'origin', tip], {
        config: r.auth,
        okExitCodes: [1, 128]
      })
    if (!(await git.test(['cat-file', '-e', `${tip}^{commit}`]))) {
      keepFailed(
        plan,
        item.task,
        item.branch,
        `its task job reported ${tip.slice(0, 12)}, but ${item.branch} no longer holds it on origin`
      )
      continue
    }
    mergeable.push(item)
  }
  return mergeable
}

/** Work that descends from the planned base is merged, with the files git (not the note) names. */
async function planMerges(
  r: Run,
  record: PlanRecord,
  mergeable: ReadyWork[],
  plan: Map<string, TaskPlan>
): Promise<void> {
  const { git } = r
  for (const { task, report, branch } of mergeable) {
    const tip = report.tip!
    if (!(await git.test(['merge-base', '--is-ancestor', record.baseSha, tip]))) {
      keepFailed(
        plan,
        task,
        branch,
        `${branch} at ${tip.slice(0, 12)} does not descend from the planned base`
      )
      continue
    }
    // The engine trusts what it computes, not what a note claims.
    const changed = await git.out([
      'diff',
      '--name-only',
      '-z',
      '--no-renames',
      record.baseSha,
      tip
    ])
    plan.set(task.id, {
      mode: 'merge',
      tip,
      changedFiles: changed.split('\0').filter(Boolean),
      durationMs: report.durationMs,
      ...(report.logTail ? { logTail: report.logTail } : {}),
      ...noteAgentFields(report)
    })
  }
}

/** A task that fails without merging: the report shows the reason, its branch is left alone. */
function keepFailed(plan: Map<string, TaskPlan>, task: Task, branch: string, reason: string): void {
  plan.set(task.id, failedPlan(task, branch, reason))
}

/** The plan of a task that fails with `reason` (its branch, if any, stays as it is). */
function failedPlan(task: Task, branch: string, reason: string): TaskPlan {
  return { mode: 'keep', result: failedResult(task, branch, reason) }
}

/**
 * Once the merge job has published, notes of earlier plans have served: deleted from the
 * remote, each only if it still holds what was read (a lease). This plan's notes stay, so that
 * re-running the merge job finds them; the next plan's merge job deletes them in turn. Failing
 * to delete costs nothing but tidiness.
 */
async function removeNotes(r: Run, notes: NoteRef[]): Promise<void> {
  if (notes.length === 0) return
  try {
    const outcomes = await pushRefs(
      r.git,
      'origin',
      notes.map((n) => ({ ref: n.ref, sha: null, expected: n.sha })),
      r.auth
    )
    const kept = outcomes.filter((o) => !o.ok)
    if (kept.length)
      r.logger.warning(
        `Left ${kept.length} task result note(s) on origin: ${kept.map((o) => `${o.branch} (${o.message})`).join('; ')}`
      )
  } catch (error) {
    r.logger.warning(`Left the task result notes on origin: ${errorMessage(error)}`)
  }
}
