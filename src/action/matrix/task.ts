// mode task: one planned task's agent on its own runner; its result handed on through the remote
// (a branch and a git note) or, in secure mode, as files for an artifact.

import * as core from '@actions/core'
import { totalCostOutput } from '../../core/report/agent-cost.js'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { taskBranchName } from '../../core/branches.js'
import type { TaskPlan } from '../../core/engine.js'
import { failedResult } from '../../core/run/task-result.js'
import { listRemoteRefs, pushRefs } from '../../core/git/remote.js'
import { pushKeptSubmoduleCommits } from '../../core/git/submodules.js'
import { renderTaskJobSummary } from '../../core/report/markdown.js'
import { reportRef, toReport, writeReport } from '../../core/results.js'
import type { Task, TaskResult } from '../../core/types.js'
import { findStatusComments } from '../../github/publish.js'
import { readIssue, readTasks, runEngine, runLink, taskOutput, type Run } from '../steps.js'
import type { IssueData } from '../../github/api.js'
import { decodeState, taskHash, type PlanRecord, type RunState } from '../state.js'
import { dependencyPlans } from './dependencies.js'
import { carryTicked } from '../ticked.js'
import { announceRunning, withUploadedLog } from '../live-matrix.js'
import { artifactName, ensureCommit, requirePlan, updateRows, workspaceDir } from './shared.js'

/** mode task: run one planned task's agent, push its branch and its result note. */
export async function taskJob(r: Run): Promise<void> {
  const { api, logger, inputs } = r
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
  // Ticked earlier by the action, merged only on the integration branch: still work that the
  // tasks after it build on (ticked.ts), as the plan job saw it.
  const tasks = carryTicked((await readTasks(api, issue, inputs, logger)) ?? [], state)
  const task = tasks.find((t) => t.id === entry.id)
  const noteRef = reportRef(issue.number, entry.id)
  const runnable = task && !task.checked && taskHash(task) === entry.hash
  // Its row shows it running while its agent works (live-matrix.ts); secure mode cannot write.
  if (runnable && !inputs.resultsDir) {
    await announceRunning(r, record, entry, taskBranchName(r.prefix, entry.id), runLink())
    await updateRows(r, issue.number, record, state!)
  }
  let result = !runnable
    ? failedResult(
        entry,
        taskBranchName(r.prefix, entry.id),
        'its text changed (or it was removed or checked) after the plan job read the issue, so it was not run; plan again to run the current text'
      )
    : await withUploadedLog(
        r,
        await runOneTask(r, issue, tasks, record, task, state),
        path.join(workspaceTemp(), `issue-${issue.number}-task-${entry.id}-logs`)
      )

  if (inputs.resultsDir) await writeResultFiles(r, inputs.resultsDir, record, entry, result)
  else result = await pushResult(r, noteRef, record, entry, result)
  logger.info(`[${entry.id}] ${result.status}${result.reason ? `: ${result.reason}` : ''}`)

  // In secure mode this job has no write access: the merge job reports.
  const comment = inputs.resultsDir ? undefined : await updateRows(r, issue.number, record, state!)
  core.setOutput('tasks', JSON.stringify([taskOutput(result)]))
  core.setOutput('total-cost-usd', totalCostOutput([result]))
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

/** Where a task job stages its log for upload (the runner empties RUNNER_TEMP after the job). */
function workspaceTemp(): string {
  return path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'agent-fanout')
}

/** The engine with one task run and the others dropped: the agent stage only (agentsOnly). */
async function runOneTask(
  r: Run,
  issue: IssueData,
  tasks: Task[],
  record: PlanRecord,
  task: Task,
  state: RunState | undefined
): Promise<TaskResult> {
  await ensureCommit(r, record.baseBranch, record.baseSha)
  // The other tasks are run by their own jobs; they stay in the prompt as siblings. The tasks
  // it builds on are merged work of earlier rounds: it starts from them.
  const plan = new Map(
    tasks.filter((t) => t.id !== task.id).map((t) => [t.id, { mode: 'drop' } as TaskPlan])
  )
  for (const [id, dep] of await dependencyPlans(r, tasks, task, state, record)) plan.set(id, dep)
  const outcome = await runEngine(r, issue, tasks, `issue-${issue.number}-task-${task.id}`, {
    plan,
    agentsOnly: true,
    baseBranch: record.baseBranch,
    baseSha: record.baseSha,
    maxParallel: 1
  })
  core.saveState('engineDone', 'true')
  return outcome.tasks.find((t) => t.id === task.id)!
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
    // A submodule commit it could not merge, kept in this repository (git/submodules.ts).
    for (const kept of await pushKeptSubmoduleCommits(git, 'origin', r.auth))
      logger.info(`${kept.ok ? 'pushed' : 'REJECTED'} ${kept.branch}: ${kept.message}`)
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
