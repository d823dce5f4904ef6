import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { integrationBranchName, taskBranchName } from '../core/branches.js'
import { runFanout, type TaskPlan } from '../core/engine.js'
import {
  ensureMergeBases,
  fetchBranch,
  fetchBranches,
  fetchOwnRefs,
  listRemoteBranches,
  listRemoteRefs,
  pushRefs
} from '../core/git/remote.js'
import { renderMatrixStatus, renderTaskJobSummary } from '../core/report/markdown.js'
import { readReport, reportRef, toReport, writeReport, type TaskReport } from '../core/results.js'
import type { Task, TaskResult } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import type { IssueData } from '../github/api.js'
import { findStatusComments, statusMarker, upsertStatusComment } from '../github/publish.js'
import type { ParsedCommand } from './commands.js'
import { HiddenCredentials } from './credentials.js'
import { guardFileCommands } from './file-commands.js'
import {
  fetchBase,
  fetchReused,
  keepOrStop,
  readIssue,
  readTasks,
  refuseBranchClashes,
  runAndPublish,
  runLink,
  setProgressLabel,
  taskOutput,
  withIssueLock,
  type PreparedRun,
  type Run
} from './steps.js'
import {
  decodeState,
  encodeState,
  keptResult,
  recordedResult,
  planTasks,
  taskRecord,
  taskHash,
  type Command,
  type PlanRecord,
  type RunState
} from './state.js'
import { PROGRESS_LABELS } from './triggers.js'

// A matrix workflow splits `run` into three kinds of job on as many runners: plan (one), task
// (one per task, in parallel), merge (one). They share nothing but the remote and the issue:
// the plan lives in the status comment's state block, each task's result in a git note of its
// own (core/results.ts), so no job depends on another runner's disk.

/** mode plan: validate, decide what runs, mark every task queued, output the matrix. */
export async function planJob(
  r: Run,
  command: ParsedCommand & { kind: 'run' | 'retry' | 'drop' | 'status' },
  issue: IssueData,
  tasks: Task[]
): Promise<void> {
  const { api, logger } = r
  const { baseBranch, baseSha, remoteTips } = await fetchBase(r)
  const statusComments = await findStatusComments(api, issue.number)
  const previous = decodeState(statusComments[0]?.body)
  const request = command as Command
  const planned = planTasks(tasks, previous, remoteTips, request)
  const { dropped } = planned
  // Task jobs must not start over commits by people either: decided here, before any of them.
  const { plan } = await keepOrStop(r, {
    tasks,
    plan: planned.plan,
    previous,
    remoteTips,
    base: { branch: baseBranch, sha: baseSha },
    command: request
  })
  await refuseBranchClashes(r, tasks, plan)
  const record: PlanRecord = {
    id: randomBytes(8).toString('hex'),
    runId: process.env.GITHUB_RUN_ID ?? '',
    baseBranch,
    baseSha,
    command: request,
    tasks: tasks.map((t) => ({
      id: t.id,
      hash: taskHash(t),
      title: t.title.slice(0, 200),
      mode: t.checked ? 'skipped' : (plan.get(t.id)?.mode ?? 'skipped')
    }))
  }
  // Tasks a person merged by hand are recorded as such now, so every row shows them merged.
  const byHand = tasks.flatMap((t) => {
    const p = plan.get(t.id)
    return p?.mode === 'keep' && p.result.status === 'merged-by-hand'
      ? [[t.id, taskRecord(t, p.result)] as const]
      : []
  })
  const state: RunState = {
    version: 1,
    baseSha: previous?.baseSha ?? baseSha,
    tasks: { ...previous?.tasks, ...Object.fromEntries(byHand) },
    dropped,
    ...(previous?.integration ? { integration: previous.integration } : {}),
    plan: record
  }
  const jobs = record.tasks.filter((t) => t.mode === 'run')
  const rows = planRows(record, state, new Map(), r.prefix)
  const body = matrixStatus(
    issue.number,
    encodeState(state),
    rows,
    `planned, ${jobs.length} task job(s) queued`
  )
  const comment = await upsertStatusComment(api, issue.number, body, logger, statusComments)
  await setProgressLabel(api, issue.number, PROGRESS_LABELS.running)
  logger.info(
    `Planned #${issue.number} on ${baseBranch} at ${baseSha.slice(0, 12)}: task jobs for ${jobs.map((t) => t.id).join(', ') || 'none'}`
  )
  core.setOutput('matrix', JSON.stringify({ include: jobs.map((t) => ({ task: t.id })) }))
  core.setOutput('task-jobs', String(jobs.length))
  core.setOutput('issue-number', String(issue.number))
  core.setOutput('integration-branch', integrationBranchName(r.prefix))
  core.setOutput('status-comment-id', String(comment.id))
  core.setOutput('tasks', JSON.stringify(rows.map(taskOutput)))
  await core.summary.addRaw(body).write()
}

/** mode task: run one planned task's agent, push its branch and its result note. */
export async function taskJob(r: Run): Promise<void> {
  const { api, git, logger, inputs } = r
  const issue = await readIssue(r)
  const statusComments = await findStatusComments(api, issue.number)
  const state = decodeState(statusComments[0]?.body)
  const record = requirePlan(state, issue.number, 'task')
  const wanted = inputs.taskId!
  const entry =
    record.tasks.find((t) => t.id === wanted) ??
    record.tasks.find((t) => t.id.toLowerCase() === wanted.toLowerCase())
  if (!entry) {
    throw new Error(
      `Task ${wanted} is not in the plan for #${issue.number} (planned: ${record.tasks.map((t) => t.id).join(', ')}). Pass task-id: \${{ matrix.task }} from the plan job's matrix.`
    )
  }
  if (entry.mode !== 'run') {
    logger.info(`${entry.id} is not planned to run (${entry.mode}); nothing to do`)
    return
  }
  const tasks = (await readTasks(api, issue, inputs, logger)) ?? []
  const task = tasks.find((t) => t.id === entry.id)
  const branch = taskBranchName(r.prefix, entry.id)
  const noteRef = reportRef(issue.number, entry.id)
  let result: TaskResult
  if (!task || task.checked || taskHash(task) !== entry.hash) {
    result = {
      id: entry.id,
      title: entry.title,
      status: 'failed',
      branch,
      changedFiles: [],
      durationMs: 0,
      reason:
        'its text changed (or it was removed or checked) after the plan job read the issue, so it was not run; plan again to run the current text'
    }
  } else {
    await ensureCommit(r, record.baseBranch, record.baseSha)
    const workDir = path.join(
      process.env.RUNNER_TEMP || os.tmpdir(),
      'agent-fanout',
      `issue-${issue.number}-task-${entry.id}`
    )
    core.saveState('workDir', workDir)
    core.saveState('repoDir', git.repoDir)
    const hidden = await HiddenCredentials.hide(git, logger)
    const fileCommands = await guardFileCommands(logger)
    try {
      const outcome = await runFanout({
        git,
        logger,
        issue: { number: issue.number, title: issue.title, url: issue.url },
        tasks,
        // The other tasks are run by their own jobs; they stay in the prompt as siblings.
        plan: new Map(
          tasks.filter((t) => t.id !== entry.id).map((t) => [t.id, { mode: 'drop' } as TaskPlan])
        ),
        agentsOnly: true,
        baseBranch: record.baseBranch,
        baseSha: record.baseSha,
        agentCommand: inputs.agentCommand,
        agentPreset: inputs.agentPreset,
        maxParallel: 1,
        taskTimeoutMs: inputs.taskTimeoutMs,
        branchPrefix: r.prefix,
        workDir,
        identity: inputs.commitAuthor,
        agentBaseEnv: process.env,
        secrets: [inputs.token],
        blockWorkflowChanges: !inputs.allowWorkflowChanges,
        signal: r.signal
      })
      result = outcome.tasks.find((t) => t.id === entry.id)!
    } finally {
      await hidden.restore()
      await fileCommands.restore()
    }
    core.saveState('engineDone', 'true')
  }

  if (inputs.resultsDir) await writeResultFiles(r, inputs.resultsDir, record, entry, result)
  else result = await pushResult(r, noteRef, record, entry, result)
  logger.info(`[${entry.id}] ${result.status}${result.reason ? `: ${result.reason}` : ''}`)

  // In secure mode this job has no write access: the merge job reports.
  const comment = inputs.resultsDir ? undefined : await updateRows(r, issue.number, record, state!)
  core.setOutput('tasks', JSON.stringify([taskOutput(result)]))
  core.setOutput('failed-tasks', JSON.stringify(result.status === 'failed' ? [result.id] : []))
  core.setOutput('status-comment-id', comment ? String(comment) : '')
  core.setOutput('issue-number', String(issue.number))
  await core.summary.addRaw(renderTaskJobSummary(result, issue.number)).write()
  if (inputs.failOn.has(result.status)) {
    core.setFailed(
      `agent-fanout: task ${entry.id} ${result.status}${result.reason ? `: ${result.reason}` : ''} (see fail-on)`
    )
  }
}

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

/** Pushes the task branch, then the note that hands its result to the merge job. */
async function pushResult(
  r: Run,
  noteRef: string,
  record: PlanRecord,
  entry: PlanRecord['tasks'][number],
  outcome: TaskResult
): Promise<TaskResult> {
  const { git, logger } = r
  let result = outcome
  const branchRef = `refs/heads/${result.branch}`
  const seen = await listRemoteRefs(git, 'origin', branchRef, r.auth)
  const noteSeen = await listRemoteRefs(git, 'origin', noteRef, r.auth)
  // A failed task's work kept on its branch (collect.ts) is pushed too: this runner goes away.
  if (result.status === 'ready' || (result.status === 'failed' && result.commit)) {
    const [push] = await pushRefs(
      git,
      'origin',
      [{ ref: branchRef, sha: result.commit!, expected: seen.get(branchRef) }],
      r.auth
    )
    logger.info(`${push.ok ? 'pushed' : 'REJECTED'} ${result.branch}: ${push.message}`)
    if (!push.ok)
      result = {
        ...result,
        status: 'failed',
        reason: `its branch ${result.branch} could not be pushed: ${push.message}`
      }
  }
  const report = toReport(result, record.id, entry.hash, runLink())
  const note = await writeReport(git, noteRef, report.tip ?? record.baseSha, report)
  const [handed] = await pushRefs(
    git,
    'origin',
    [{ ref: noteRef, sha: note, expected: noteSeen.get(noteRef) }],
    r.auth
  )
  if (!handed.ok) {
    throw new Error(
      `The result of task ${entry.id} could not be handed to the merge job: pushing ${noteRef} was rejected: ${handed.message}`
    )
  }
  return result
}

/** Secure mode: the result as files (a git bundle and a report) for upload as an artifact. */
async function writeResultFiles(
  r: Run,
  dir: string,
  record: PlanRecord,
  entry: PlanRecord['tasks'][number],
  result: TaskResult
): Promise<void> {
  const target = path.resolve(workspaceDir(), dir)
  await mkdir(target, { recursive: true })
  // A failed task's work kept on its branch (collect.ts) travels too: the merge job pushes it.
  if (result.status === 'ready' || (result.status === 'failed' && result.commit)) {
    await r.git.run([
      'bundle',
      'create',
      path.join(target, 'task.bundle'),
      `refs/heads/${result.branch}`,
      `^${record.baseSha}`
    ])
  }
  const report = toReport(result, record.id, entry.hash, runLink())
  await writeFile(path.join(target, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
  r.logger.info(
    `Wrote the result of ${entry.id} to ${target}: upload that folder as the artifact ${artifactName(entry.id)}`
  )
}

/** The artifact (and folder) name the merge job looks for, by task ID only. */
export function artifactName(taskId: string): string {
  return `agent-fanout-${taskId}`
}

function workspaceDir(): string {
  return process.env.GITHUB_WORKSPACE || process.cwd()
}

function requirePlan(
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

/** Makes sure `sha` (the plan's base) is here, fetching it when the workspace lacks it. */
async function ensureCommit(r: Run, branch: string, sha: string): Promise<void> {
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
  const byId = new Map(current.map((t) => [t.id, t]))
  const plan = new Map<string, TaskPlan>()
  const tasks: Task[] = []
  const ready: { task: Task; report: TaskReport; branch: string }[] = []
  const failed = (task: Task, reason: string, extra: Partial<TaskResult> = {}): void => {
    plan.set(task.id, {
      mode: 'keep',
      result: {
        id: task.id,
        title: task.title,
        status: 'failed',
        branch: taskBranchName(r.prefix, task.id),
        changedFiles: [],
        durationMs: 0,
        reason,
        ...extra
      }
    })
  }
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
    if (entry.mode === 'drop') plan.set(task.id, { mode: 'drop' })
    else if (entry.mode === 'reuse') {
      const kept = previous.tasks[entry.id]
      // A branch that moved may hold commits by people (the plan job reuses such a branch):
      // keepOrStop below decides; what is still not where it was is reported as moved.
      if (kept?.commit && remoteTips.has(branch))
        plan.set(task.id, {
          mode: 'reuse',
          tip: kept.commit,
          changedFiles: kept.changedFiles,
          durationMs: kept.durationMs
        })
      else failed(task, `its earlier branch ${branch} moved after the plan; run it again`)
    } else if (entry.mode === 'keep') {
      plan.set(task.id, {
        mode: 'keep',
        result: keptResult(task, previous.tasks[entry.id], branch)
      })
    } else {
      const report = reports.get(entry.id)
      if (!now || taskHash(now) !== entry.hash)
        failed(task, 'its text changed after the plan job read the issue; plan again')
      else if (!report)
        failed(
          task,
          `its task job left no result (it failed before reporting, was cancelled, or never ran); its branch ${branch} was not merged. See the workflow run, then run again`
        )
      else if (report.status === 'ready') ready.push({ task, report, branch })
      else {
        plan.set(task.id, {
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
            ...(report.logTail ? { logTail: report.logTail } : {})
          }
        })
      }
    }
  })

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
      failed(
        item.task,
        `its task job reported ${tip.slice(0, 12)}, but ${item.branch} no longer holds it on origin`
      )
      continue
    }
    mergeable.push(item)
  }
  await ensureMergeBases(
    git,
    'origin',
    base,
    mergeable.map((m) => ({ branch: m.branch, sha: m.report.tip! })),
    r.auth
  )
  for (const { task, report, branch } of mergeable) {
    const tip = report.tip!
    if (!(await git.test(['merge-base', '--is-ancestor', record.baseSha, tip]))) {
      failed(task, `${branch} at ${tip.slice(0, 12)} does not descend from the planned base`)
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
      ...(report.logTail ? { logTail: report.logTail } : {})
    })
  }
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
      failed(task, `its earlier branch ${branch} moved after the plan; run it again`)
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
    staleNotes: stale
  }
}

/** A task job's note on the remote: its ref and the notes commit it held when read. */
interface NoteRef {
  ref: string
  sha: string
}

/**
 * The task jobs' reports that belong to this plan, by task ID, and the issue's notes that do
 * not (earlier plans' results; none in secure mode, where reports come as artifacts).
 */
async function fetchReports(
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
    let report: TaskReport
    try {
      report = JSON.parse(text) as TaskReport
    } catch {
      ignore('report.json is not JSON')
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
async function updateRows(
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
    const body = matrixStatus(
      issueNumber,
      encodeState(state),
      rows,
      waiting
        ? `${reports.size} of ${reports.size + waiting} task job(s) reported`
        : 'every task job reported; the merge job merges next'
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
function planRows(
  record: PlanRecord,
  state: RunState,
  reports: Map<string, TaskReport>,
  prefix: string
): TaskResult[] {
  return record.tasks.map((entry) => {
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
      case 'reuse':
      case 'keep':
        return kept
          ? { ...recordedResult(entry.id, entry.title, kept), reused: entry.mode === 'reuse' }
          : { ...base, status: 'skipped', reason: 'not run yet' }
      default: {
        const report = reports.get(entry.id)
        if (!report) return { ...base, status: 'queued' }
        return {
          ...base,
          status: report.status,
          changedFiles: report.changedFiles,
          durationMs: report.durationMs,
          ...(report.tip ? { commit: report.tip } : {}),
          ...(report.reason ? { reason: report.reason } : {})
        }
      }
    }
  })
}

function matrixStatus(
  issueNumber: number,
  state: string,
  rows: TaskResult[],
  headline: string
): string {
  return renderMatrixStatus({
    marker: `${statusMarker(issueNumber)}\n${state}`,
    headline,
    rows,
    runUrl: runLink()
  })
}
