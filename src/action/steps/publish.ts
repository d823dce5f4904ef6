// After the engine: branches pushed, the pull request and the status comment, outputs.

import { settleWaiting } from '../../core/run/rounds.js'
import * as core from '@actions/core'
import { agentFigures, totalCostOutput } from '../../core/report/agent-cost.js'
import { Git } from '../../core/git/git.js'
import { pushBranches, type BranchUpdate, type PushOutcome } from '../../core/git/remote.js'
import { pushKeptSubmoduleCommits } from '../../core/git/submodules.js'
import { noTaskChangedAnything, renderReport, summaryLine } from '../../core/report/markdown.js'
import {
  isMerged,
  type FanoutResult,
  type Logger,
  type Task,
  type TaskResult
} from '../../core/types.js'
import type { CommentData, IssueData } from '../../github/api.js'
import { statusMarker, upsertStatusComment } from '../../github/publish.js'
import { whileDiskAllows } from '../file-commands.js'
import { pullRequestStep, type PullRequestOutcome } from '../pull-request.js'
import { MAX_RECORDED_PEOPLE } from '../../core/people.js'
import {
  encodeState,
  stateFromResult,
  type Command,
  type PlanRecord,
  type RunState
} from '../state.js'
import { backgroundWork, runLink, type Run } from './context.js'
import { runEngine } from './engine.js'
import { prepareRun, type PreparedRun } from './prepare.js'
import type { RunWatcher } from '../../core/events.js'
import { renderGantt } from '../../core/report/gantt.js'
import { tickMergedTasks } from '../../github/tick-boxes.js'
import { branchUrl, startLiveStatus } from '../live-status.js'

/**
 * The single job's run from its plan to its report: prepare (unless the merge job did), run the
 * engine, then publish: branches, pull request, status comment, outputs, fail-on.
 */
export async function runAndPublish(
  r: Run,
  command: Command,
  issue: IssueData,
  tasks: Task[],
  previous: RunState | undefined,
  statusComments: CommentData[],
  prepared?: PreparedRun
): Promise<'done' | 'attention'> {
  const { logger, inputs } = r
  // The status comment goes live before the base is fetched (live-status.ts); a merge job has
  // no agents to show and writes its report at the end.
  const live = prepared ? undefined : startLiveStatus(r, tasks, previous, statusComments)
  const stages = async (watch?: RunWatcher) => {
    const prep = prepared ?? (await prepareRun(r, command, tasks, previous))
    // Ticked tasks the action merged are carried (ticked.ts): the engine merges them again.
    const runTasks = prep.tasks ?? tasks
    const result = await runEngine(r, issue, runTasks, `issue-${r.issueNumber}`, {
      plan: prep.plan,
      baseBranch: prep.baseBranch,
      baseSha: prep.baseSha,
      integrationStart: prep.keep.start,
      conflictStrategies: inputs.conflictStrategy,
      maxReruns: inputs.maxReruns,
      resolveCommand: inputs.resolveCommand,
      verify: inputs.verify,
      // Worktree files are deleted while the branches are pushed and the issue is updated.
      deferDeletion: (deleted) => backgroundWork.push(deleted),
      ...(watch ? { watch } : {})
    })
    return { prep, result, runTasks }
  }
  const { prep, result, runTasks } = live ? await live.around(stages) : await stages()
  if (live) statusComments = await live.handOver(result)
  else if (prep.rows) result.tasks = result.tasks.map((t) => ({ ...t, ...prep.rows?.get(t.id) }))
  await whileDiskAllows("the post step's state", () => core.saveState('engineDone', 'true'))
  // A matrix round: tasks that waited for this round's work are queued for the next, or skipped.
  if (prep.planRecord) settleRound(result, tasks, prep.planRecord)
  if (prep.keep.notes.length > 0) result.warnings = [...prep.keep.notes, ...(result.warnings ?? [])]

  if (r.signal.aborted && r.signal.reason === 'cancelled')
    return reportCancelled(r, issue, result, previous, statusComments)
  const pushes = await logger.group('Push branches', () =>
    publishBranches(r.git, result, prep.remoteTips, prep.ranNow, r.auth, logger)
  )
  const report = await logger.group('Report', () =>
    reportOnIssue(r, issue, runTasks, result, pushes, prep, previous, statusComments)
  )
  return finishStep(r, issue, result, pushes, report)
}

/** The runner escalates to SIGKILL seconds after a cancel: report, skip the pushes. */
async function reportCancelled(
  r: Run,
  issue: IssueData,
  result: FanoutResult,
  previous: RunState | undefined,
  statusComments: CommentData[]
): Promise<'attention'> {
  const body = renderReport(result, {
    issueNumber: issue.number,
    headline: `cancelled — ${summaryLine(result)}`,
    noPullRequestReason: 'the run was cancelled; nothing was pushed. Run it again to finish.',
    runUrl: runLink(),
    marker: `${statusMarker(issue.number)}${previous ? `\n${encodeState(previous)}` : ''}`
  })
  await upsertStatusComment(r.api, issue.number, body, r.logger, statusComments)
  core.saveState('reported', 'true')
  core.setFailed(`agent-fanout was cancelled: ${summaryLine(result)}`)
  return 'attention'
}

/** The pull request (when something merged and the push went through) and the status comment. */
async function reportOnIssue(
  r: Run,
  issue: IssueData,
  tasks: Task[],
  result: FanoutResult,
  pushes: PushOutcome[],
  prep: PreparedRun,
  previous: RunState | undefined,
  statusComments: CommentData[]
): Promise<Report> {
  const { api, logger, inputs } = r
  const integrationPush = pushes.find((p) => p.branch === result.integrationBranch)
  const mergedAny = result.tasks.some((t) => isMerged(t.status))
  let noPullRequestReason: string | undefined
  if (integrationPush && !integrationPush.ok)
    noPullRequestReason = `the push of ${result.integrationBranch} was rejected: ${integrationPush.message}`
  else if (!mergedAny) noPullRequestReason = 'no task produced changes that could be merged.'
  let pull: Report['pull']
  let refused: Report['refused']
  if (!noPullRequestReason) {
    const allMerged = result.tasks
      .filter((t) => t.status !== 'skipped' || prep.dropped.includes(t.id))
      .every((t) => isMerged(t.status))
    // GitHub refusing (403, 422) comes back as `refused`: the comment below says why and how.
    ;({ pull, refused } = await pullRequestStep(r, {
      ...{ issue, tasks, result, pushes, allMerged },
      baseBranch: prep.baseBranch
    }))
    noPullRequestReason = refused?.reason
  }
  // What the integration branch holds now: this run's result, or, when its push was
  // rejected, whatever the last record said (the next run then finds the newer commits).
  const integration =
    integrationPush && !integrationPush.ok
      ? previous?.integration
      : { sha: result.integrationSha, people: prep.keep.people.slice(0, MAX_RECORDED_PEOPLE) }
  const state = encodeState({
    ...stateFromResult(result, tasks, prep.dropped),
    ...(integration ? { integration } : {}),
    ...(prep.planRecord ? { plan: prep.planRecord } : {})
  })
  const body = renderReport(result, {
    issueNumber: issue.number,
    pullRequest: pull,
    noPullRequestReason,
    notices: refused?.notices,
    runUrl: runLink(),
    marker: `${statusMarker(issue.number)}\n${state}`,
    branchUrl: (b) => branchUrl(b)
  })
  const comment = await upsertStatusComment(api, issue.number, body, logger, statusComments)
  logger.info(`${comment.created ? 'Posted' : 'Updated'} the status comment: ${comment.url}`)
  // What is on the integration branch on the remote gets its box ticked (tick-boxes.ts).
  if (inputs.tickBoxes && !(integrationPush && !integrationPush.ok))
    await tickMergedTasks(
      api,
      issue.number,
      issue.body,
      result.tasks,
      // Sub-issues have no box in this issue's body.
      new Set(tasks.filter((t) => !t.checked && !t.subIssue).map((t) => t.id)),
      logger
    )
  return { pull, comment, refused }
}

/** What the report step leaves for the step's end: the pull request, or why GitHub refused it. */
type Report = {
  pull?: { number: number; url: string }
  comment: { id: number }
  refused?: PullRequestOutcome['refused']
}

/** Outputs, the job summary, and the step's verdict (fail-on, rejected pushes, a refused PR). */
async function finishStep(
  r: Run,
  issue: IssueData,
  result: FanoutResult,
  pushes: PushOutcome[],
  report: Report
): Promise<'done' | 'attention'> {
  const { logger, inputs } = r
  await whileDiskAllows("the step's outputs", () => {
    core.saveState('reported', 'true')
    setOutputs(result, report.pull, report.comment.id)
  })
  await whileDiskAllows('the job summary', () =>
    core.summary
      .addRaw(
        renderReport(result, {
          issueNumber: issue.number,
          pullRequest: report.pull,
          noPullRequestReason: report.refused?.reason,
          notices: report.refused?.notices,
          runUrl: runLink(),
          maxLength: 1_000_000,
          branchUrl: (b) => branchUrl(b)
        })
      )
      // The run at a glance: a gantt chart of the agents (titles made chart-safe, gantt.ts).
      .addRaw(`\n${renderGantt(result.tasks) ?? ''}`)
      .write()
  )
  if (noTaskChangedAnything(result))
    logger.warning(
      'No agent changed anything: the agent command likely cannot write files (a missing permission mode?). The status comment and the job summary show its output.'
    )

  const failing = result.tasks.filter((t) => inputs.failOn.has(t.status))
  const rejected = pushes.filter((p) => !p.ok)
  const refusedPull = report.refused?.failsStep ? report.refused : undefined
  if (failing.length > 0 || rejected.length > 0 || refusedPull) {
    const parts = failing.map((t) => `${t.id} ${t.status}`)
    if (rejected.length) parts.push(`push rejected for ${rejected.map((p) => p.branch).join(', ')}`)
    if (refusedPull) parts.push(`no pull request: ${refusedPull.reason}`)
    core.setFailed(
      `agent-fanout: ${summaryLine(result)}. Failing because: ${parts.join('; ')} (see fail-on).`
    )
    return 'attention'
  }
  logger.info(`agent-fanout: ${summaryLine(result)}`)
  return result.tasks.every((t) => isMerged(t.status) || t.status === 'skipped')
    ? 'done'
    : 'attention'
}

/**
 * Pushes the integration branch and every task branch holding work worth keeping (merged ones,
 * so reruns can reuse them; conflicted and broke-verify ones, and failed ones whose work was
 * kept on their branch, so no work is lost), and deletes the remote branches of tasks that ran
 * again and ended with nothing to keep.
 */
async function publishBranches(
  git: Git,
  result: FanoutResult,
  remoteTips: Map<string, string>,
  ranNow: Set<string>,
  auth: Record<string, string>,
  logger: Logger
): Promise<PushOutcome[]> {
  // A failed task that still carries a commit (its merge found no disk space) has work to keep.
  const keep = (t: FanoutResult['tasks'][number]): boolean =>
    isMerged(t.status) ||
    t.status === 'conflicted' ||
    t.status === 'broke-verify' ||
    (t.status === 'failed' && !!t.commit) ||
    // Left out because a task it builds on stayed out: its work waits on its branch.
    (t.status === 'skipped' && !!t.commit)
  const updates: Omit<BranchUpdate, 'expected'>[] = [
    { branch: result.integrationBranch, sha: result.integrationSha },
    ...result.tasks
      .filter((t) => t.commit && keep(t))
      .map((t) => ({ branch: t.branch, sha: t.commit! })),
    ...result.tasks
      // A task skipped for a dependency never ran: what its branch held stays.
      .filter(
        (t) => ranNow.has(t.id) && !keep(t) && t.status !== 'skipped' && remoteTips.has(t.branch)
      )
      .map((t) => ({ branch: t.branch, sha: null }))
  ]
  const changed = updates
    .map((u) => ({ ...u, expected: remoteTips.get(u.branch) }))
    .filter((u) => u.sha !== u.expected && !(u.sha === null && u.expected === undefined))
  // Task branches first and on their own: a server that rejects the integration branch (branch
  // protection, a ruleset, a hook) must not take the agents' work down with it.
  const integration = changed.filter((u) => u.branch === result.integrationBranch)
  const tasks = changed.filter((u) => u.branch !== result.integrationBranch)
  const outcomes = [
    ...(await pushBranches(git, 'origin', tasks, auth)),
    ...(await pushBranches(git, 'origin', integration, auth))
  ]
  for (const o of outcomes) logger.info(`${o.ok ? 'pushed' : 'REJECTED'} ${o.branch}: ${o.message}`)
  // Submodule commits a task could not merge, kept in this repository (git/submodules.ts).
  for (const o of await pushKeptSubmoduleCommits(git, 'origin', auth)) {
    if (o.ok) logger.info(`pushed ${o.branch}: ${o.message}`)
    else logger.warning(`Could not push ${o.branch}: ${o.message}`)
  }
  return outcomes
}

/** One task as the `tasks` output shows it. */
export function taskOutput(t: TaskResult): Record<string, unknown> {
  return {
    id: t.id,
    title: t.title,
    status: t.status,
    branch: t.branch,
    changedFiles: t.changedFiles,
    durationMs: t.durationMs,
    ...(t.commit ? { commit: t.commit } : {}),
    ...(t.reason ? { reason: t.reason } : {}),
    ...(t.reused ? { reused: true } : {}),
    // The agent's figures (numbers only: its words stay out of outputs, like its log).
    ...agentFigures(t)
  }
}

export function setOutputs(
  result: FanoutResult,
  pull: { number: number; url: string } | undefined,
  commentId: number
): void {
  const ids = (match: (status: string) => boolean): string =>
    JSON.stringify(result.tasks.filter((t) => match(t.status)).map((t) => t.id))
  // Agent output (log tails) stays out of step outputs: later steps must not consume it as data.
  core.setOutput('tasks', JSON.stringify(result.tasks.map(taskOutput)))
  core.setOutput('total-cost-usd', totalCostOutput(result.tasks))
  core.setOutput(
    'merged-tasks',
    ids((s) => isMerged(s as never))
  )
  core.setOutput(
    'conflicted-tasks',
    ids((s) => s === 'conflicted')
  )
  core.setOutput(
    'failed-tasks',
    ids((s) => s === 'failed')
  )
  core.setOutput('integration-branch', result.integrationBranch)
  core.setOutput('pull-request-number', pull ? String(pull.number) : '')
  core.setOutput('pull-request-url', pull?.url ?? '')
  core.setOutput('status-comment-id', String(commentId))
  if (result.verify) core.setOutput('verify-passed', String(result.verify.ok))
  // Matrix rounds: tasks that wait for a next run (the workflow may dispatch itself on it).
  core.setOutput(
    'pending-tasks',
    ids((s) => s === 'queued')
  )
}

/** After a matrix round's merge: settles the tasks that waited for it (core/run/rounds.ts). */
function settleRound(result: FanoutResult, tasks: Task[], record: PlanRecord): void {
  const results = new Map(result.tasks.map((t) => [t.id, t]))
  const waiting = new Set(record.tasks.filter((t) => t.mode === 'wait').map((t) => t.id))
  settleWaiting(tasks, results, waiting)
  result.tasks = result.tasks.map((t) => results.get(t.id)!)
}
