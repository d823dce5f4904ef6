import * as core from '@actions/core'
import { context } from '@actions/github'
import os from 'node:os'
import path from 'node:path'
import { integrationBranchName, taskBranchName } from '../core/branches.js'
import { runFanout, type TaskPlan } from '../core/engine.js'
import { baseBranchName } from '../core/git/base-branch.js'
import { Git } from '../core/git/git.js'
import { acquireRemoteLock } from '../core/git/lock.js'
import {
  ensureMergeBases,
  fetchBranch,
  fetchBranches,
  listRemoteBranches,
  pushBranches,
  type BranchUpdate,
  type PushOutcome
} from '../core/git/remote.js'
import { inertLogText } from '../core/logger.js'
import {
  noTaskChangedAnything,
  renderPullRequestBody,
  renderReport,
  summaryLine
} from '../core/report/markdown.js'
import { branchClashMessage, codeSpan, remoteBranchClashes } from '../core/preflight.js'
import { parseTaskList, TASK_SYNTAX_HELP, TaskListError } from '../core/tasks/parse.js'
import { sanitizeIssueText } from '../core/tasks/sanitize.js'
import {
  isMerged,
  type FanoutResult,
  type Logger,
  type Task,
  type TaskResult
} from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { type CommentData, type GitHubApi, type IssueData } from '../github/api.js'
import {
  findStatusComments,
  statusMarker,
  upsertPullRequest,
  upsertStatusComment
} from '../github/publish.js'
import { PROGRESS_LABELS, Refusal, type Trigger } from './triggers.js'
import { HiddenCredentials } from './credentials.js'
import { guardFileCommands, whileDiskAllows } from './file-commands.js'
import { type ActionInputs } from './inputs.js'
import { keepOnRemote } from './keep.js'
import { CannotKeepError, MAX_RECORDED_PEOPLE, type KeepDecision } from '../core/people.js'
import {
  encodeState,
  keptResult,
  stateBlock,
  planTasks,
  stateFromResult,
  type Command,
  type PlanRecord,
  type RunState
} from './state.js'

/**
 * The steps of one run that the single-job action and the matrix jobs share: reading the issue
 * and its tasks, the issue lock and progress labels, running the engine and publishing its
 * result (branches, pull request, status comment, outputs).
 */
/**
 * @actions/core as the engine's Logger. Every message is made inert (inertLogText): they carry
 * file names, reasons and titles that agents control, and core.info prints its message as is.
 */
export const coreLogger: Logger = {
  debug: (m) => core.debug(inertLogText(m)),
  info: (m) => core.info(inertLogText(m)),
  warning: (m) => core.warning(inertLogText(m)),
  error: (m) => core.error(inertLogText(m)),
  group: (name, fn) => core.group(inertLogText(name), fn)
}

/** Work the step must see finished before it ends (deleting worktree files); never rejects. */
const backgroundWork: Promise<void>[] = []

/** Resolves once all background work started so far has finished. */
export async function backgroundWorkDone(): Promise<void> {
  await Promise.all(backgroundWork.splice(0))
}

export interface Run {
  inputs: ActionInputs
  api: GitHubApi
  git: Git
  logger: Logger
  issueNumber: number
  prefix: string
  auth: Record<string, string>
  signal: AbortSignal
  trigger: Trigger
}

/**
 * One run per issue at a time, across runners: a second one waits, then works from the state
 * the first left (read inside fn, after the lock), so its request is served rather than lost.
 * While fn runs the issue carries fanout:running (a scheduled sweep skips it); afterwards
 * fanout:done or fanout:needs-attention.
 */
export async function withIssueLock(
  r: Run,
  issueNumber: number,
  fn: () => Promise<'done' | 'attention'>
): Promise<void> {
  const { api, logger, inputs } = r
  const lock = await logger.group('Take the issue lock', () =>
    acquireRemoteLock(r.git, {
      remote: 'origin',
      ref: `refs/agent-fanout/locks/issue-${issueNumber}`,
      holder: runLink() ?? `run ${process.env.GITHUB_RUN_ID ?? process.pid}`,
      auth: r.auth,
      waitMs: Math.min(inputs.deadlineMs ?? LOCK_WAIT_MS, LOCK_WAIT_MS),
      logger,
      signal: r.signal
    })
  )
  core.saveState('lock', `${lock.ref} ${lock.sha}`)
  let finished: 'done' | 'attention' = 'attention'
  try {
    await setProgressLabel(api, issueNumber, PROGRESS_LABELS.running)
    finished = await fn()
  } finally {
    await lock.release()
    await whileDiskAllows("the post step's state", () => core.saveState('lock', ''))
    const label = finished === 'done' ? PROGRESS_LABELS.done : PROGRESS_LABELS.attention
    await setProgressLabel(api, issueNumber, label).catch((e: unknown) =>
      logger.warning(`Could not update the progress labels: ${errorMessage(e)}`)
    )
  }
}

/** The issue, refused when it is a pull request; its title cleaned like task text. */
export async function readIssue(r: Run): Promise<IssueData> {
  const { api, logger } = r
  const issue = await logger.group(`Read issue #${r.issueNumber}`, async () => {
    const data = await api.getIssue(r.issueNumber).catch((error: unknown) => {
      throw new Error(
        `Could not read issue #${r.issueNumber} of ${api.owner}/${api.repo}: ${errorMessage(error)}`
      )
    })
    if (data.isPullRequest) {
      throw new Refusal(
        `#${r.issueNumber} is a pull request; agent-fanout takes its tasks from issues and never runs pull request code.`
      )
    }
    return data
  })
  // The title reaches agents too (ISSUE_TITLE, the prompt): hidden characters go, like in tasks.
  issue.title = sanitizeIssueText(issue.title).replace(/\s+/g, ' ').trim()
  return issue
}

/** How long a run waits for another run on the same issue to finish. */
const LOCK_WAIT_MS = 30 * 60 * 1000

/** Puts `label` on the issue and takes the other progress labels off. */
export async function setProgressLabel(
  api: GitHubApi,
  issueNumber: number,
  label: string
): Promise<void> {
  await api.addLabels(issueNumber, [label])
  for (const other of Object.values(PROGRESS_LABELS)) {
    if (other !== label) await api.removeLabel(issueNumber, other)
  }
}

/** A plan made before this step (by the merge job, from a plan job and its task jobs). */
export interface PreparedRun {
  plan: Map<string, TaskPlan>
  dropped: string[]
  /** Tasks whose agents ran for this request (their stale branches may be deleted). */
  ranNow: Set<string>
  baseBranch: string
  baseSha: string
  remoteTips: Map<string, string>
  /** Kept in the state the run records (the plan a re-run of failed task jobs still needs). */
  planRecord?: PlanRecord
  /** Where the integration branch starts and the commits by people it keeps (people.ts). */
  keep: Pick<KeepDecision, 'start' | 'people' | 'notes'>
}

export async function runAndPublish(
  r: Run,
  command: Command,
  issue: IssueData,
  tasks: Task[],
  previous: RunState | undefined,
  statusComments: CommentData[],
  prepared?: PreparedRun
): Promise<'done' | 'attention'> {
  const { api, git, logger, inputs } = r
  const prep = prepared ?? (await prepareRun(r, command, tasks, previous))
  const { plan, dropped, baseBranch, baseSha, remoteTips, ranNow } = prep
  const workDir = path.join(
    process.env.RUNNER_TEMP || os.tmpdir(),
    'agent-fanout',
    `issue-${r.issueNumber}`
  )
  // For the post step: if this process dies, it removes what was left behind.
  core.saveState('workDir', workDir)
  core.saveState('repoDir', git.repoDir)
  const hidden = await HiddenCredentials.hide(git, logger)
  const fileCommands = await guardFileCommands(logger)
  let result: FanoutResult
  try {
    result = await runFanout({
      git,
      logger,
      issue: { number: issue.number, title: issue.title, url: issue.url },
      tasks,
      plan,
      baseBranch,
      baseSha,
      integrationStart: prep.keep.start,
      agentCommand: inputs.agentCommand,
      agentPreset: inputs.agentPreset,
      maxParallel: inputs.maxParallel,
      taskTimeoutMs: inputs.taskTimeoutMs,
      branchPrefix: r.prefix,
      workDir,
      identity: inputs.commitAuthor,
      agentBaseEnv: process.env,
      secrets: [inputs.token],
      conflictStrategies: inputs.conflictStrategy,
      maxReruns: inputs.maxReruns,
      resolveCommand: inputs.resolveCommand,
      verify: inputs.verify,
      blockWorkflowChanges: !inputs.allowWorkflowChanges,
      signal: r.signal,
      // Worktree files are deleted while the branches are pushed and the issue is updated.
      deferDeletion: (deleted) => backgroundWork.push(deleted)
    })
  } finally {
    await hidden.restore()
    await fileCommands.restore()
  }
  await whileDiskAllows("the post step's state", () => core.saveState('engineDone', 'true'))
  if (prep.keep.notes.length > 0) result.warnings = [...prep.keep.notes, ...(result.warnings ?? [])]

  if (r.signal.aborted && r.signal.reason === 'cancelled') {
    // The runner escalates to SIGKILL seconds after a cancel: report, skip the pushes.
    const body = renderReport(result, {
      issueNumber: issue.number,
      headline: `cancelled — ${summaryLine(result)}`,
      noPullRequestReason: 'the run was cancelled; nothing was pushed. Run it again to finish.',
      runUrl: runLink(),
      marker: `${statusMarker(issue.number)}${previous ? `\n${encodeState(previous)}` : ''}`
    })
    await upsertStatusComment(api, issue.number, body, logger, statusComments)
    core.saveState('reported', 'true')
    core.setFailed(`agent-fanout was cancelled: ${summaryLine(result)}`)
    return 'attention'
  }

  const pushes = await logger.group('Push branches', () =>
    publishBranches(git, result, remoteTips, ranNow, r.auth, logger)
  )
  const integrationPush = pushes.find((p) => p.branch === result.integrationBranch)

  const report = await logger.group('Report', async () => {
    const mergedAny = result.tasks.some((t) => isMerged(t.status))
    let noPullRequestReason: string | undefined
    if (integrationPush && !integrationPush.ok)
      noPullRequestReason = `the push of ${result.integrationBranch} was rejected: ${integrationPush.message}`
    else if (!mergedAny) noPullRequestReason = 'no task produced changes that could be merged.'
    let pull: { number: number; url: string } | undefined
    if (!noPullRequestReason) {
      const allMerged = result.tasks
        .filter((t) => t.status !== 'skipped' || dropped.includes(t.id))
        .every((t) => isMerged(t.status))
      const body = renderPullRequestBody(result, issue.number, allMerged)
      const pr = await upsertPullRequest(api, {
        head: result.integrationBranch,
        base: baseBranch,
        title: issue.title,
        body,
        draft: inputs.draft
      })
      logger.info(`${pr.created ? 'Opened' : 'Updated'} pull request #${pr.number}: ${pr.url}`)
      pull = { number: pr.number, url: pr.url }
    }
    // What the integration branch holds now: this run's result, or, when its push was
    // rejected, whatever the last record said (the next run then finds the newer commits).
    const integration =
      integrationPush && !integrationPush.ok
        ? previous?.integration
        : { sha: result.integrationSha, people: prep.keep.people.slice(0, MAX_RECORDED_PEOPLE) }
    const state = encodeState({
      ...stateFromResult(result, tasks, dropped),
      ...(integration ? { integration } : {}),
      ...(prep.planRecord ? { plan: prep.planRecord } : {})
    })
    const body = renderReport(result, {
      issueNumber: issue.number,
      pullRequest: pull,
      noPullRequestReason,
      runUrl: runLink(),
      marker: `${statusMarker(issue.number)}\n${state}`
    })
    const comment = await upsertStatusComment(api, issue.number, body, logger, statusComments)
    logger.info(`${comment.created ? 'Posted' : 'Updated'} the status comment: ${comment.url}`)
    return { pull, comment }
  })

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
          runUrl: runLink(),
          maxLength: 1_000_000
        })
      )
      .write()
  )
  if (noTaskChangedAnything(result))
    logger.warning(
      'No agent changed anything: the agent command likely cannot write files (a missing permission mode?). The status comment and the job summary show its output.'
    )

  const failing = result.tasks.filter((t) => inputs.failOn.has(t.status))
  const rejected = pushes.filter((p) => !p.ok)
  if (failing.length > 0 || rejected.length > 0) {
    const parts = failing.map((t) => `${t.id} ${t.status}`)
    if (rejected.length) parts.push(`push rejected for ${rejected.map((p) => p.branch).join(', ')}`)
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

/** run mode: fetch the base, decide per task whether its agent runs, fetch reused branches. */
export async function prepareRun(
  r: Run,
  command: Command,
  tasks: Task[],
  previous: RunState | undefined
): Promise<PreparedRun> {
  const { baseBranch, baseSha, remoteTips } = await fetchBase(r)
  const planned = planTasks(tasks, previous, remoteTips, command)
  const base = { branch: baseBranch, sha: baseSha }
  const keep = await keepOrStop(r, {
    tasks,
    plan: planned.plan,
    previous,
    remoteTips,
    base,
    command
  })
  const { plan } = keep
  await refuseBranchClashes(r, tasks, plan)
  await fetchReused(r, tasks, plan, base, remoteTips)
  const ranNow = new Set(tasks.filter((t) => plan.get(t.id)?.mode === 'run').map((t) => t.id))
  return { plan, dropped: planned.dropped, ranNow, baseBranch, baseSha, remoteTips, keep }
}

/**
 * keepOnRemote (commits by people are kept); when that is impossible, says so on the issue
 * before any agent starts and fails the run.
 */
export async function keepOrStop(
  r: Run,
  o: Pick<
    Parameters<typeof keepOnRemote>[0],
    'tasks' | 'plan' | 'previous' | 'remoteTips' | 'base' | 'command'
  >
): Promise<KeepDecision> {
  try {
    return await keepOnRemote({
      ...o,
      git: r.git,
      logger: r.logger,
      auth: r.auth,
      issueNumber: r.issueNumber,
      prefix: r.prefix
    })
  } catch (error) {
    if (error instanceof CannotKeepError)
      await explainOnIssue(r.api, r.issueNumber, error.message, r.logger, '')
    throw error
  }
}

/** Fetches the base branch's tip and lists the branches earlier runs left under the prefix. */
export async function fetchBase(
  r: Run
): Promise<{ baseBranch: string; baseSha: string; remoteTips: Map<string, string> }> {
  const baseBranch = await baseBranchName(r.git, await resolveBaseBranch(r), 'base-branch')
  return r.logger.group(`Fetch ${baseBranch}`, async () => {
    const sha = await fetchBranch(r.git, 'origin', baseBranch, r.auth)
    const tips = await listRemoteBranches(r.git, 'origin', r.prefix, r.auth)
    r.logger.info(
      `Base ${baseBranch} is at ${sha}; ${tips.size} branch(es) of earlier runs under ${r.prefix}/`
    )
    return { baseBranch, baseSha: sha, remoteTips: tips }
  })
}

/**
 * Refuses, before any agent starts, a run whose branches origin cannot hold next to the ones it
 * has (a branch `<prefix>` blocks `<prefix>/T1`): said once, on the issue and in the log.
 */
export async function refuseBranchClashes(
  r: Run,
  tasks: Task[],
  plan: Map<string, TaskPlan>
): Promise<void> {
  const needed = [
    integrationBranchName(r.prefix),
    ...tasks
      .filter((t) => !t.checked && plan.get(t.id)?.mode !== 'drop')
      .map((t) => taskBranchName(r.prefix, t.id))
  ]
  const clashes = await remoteBranchClashes(r.git, 'origin', needed, r.auth)
  if (clashes.length === 0) return
  const message = branchClashMessage(clashes, {
    place: 'on origin',
    deleteHint: (branch) => `git push origin --delete ${branch}`,
    // Shown on the issue: names stay names there (no markup, no @mention).
    name: codeSpan
  })
  await explainOnIssue(r.api, r.issueNumber, message, r.logger, '')
  throw new UserError(message)
}

export async function resolveBaseBranch(r: Run): Promise<string> {
  return (
    r.inputs.baseBranch ??
    (context.payload.repository?.default_branch as string | undefined) ??
    (await r.api.getDefaultBranch())
  )
}

/** Fetches the branches of tasks reused from an earlier run, with history down to the base. */
export async function fetchReused(
  r: Run,
  tasks: Task[],
  plan: Map<string, TaskPlan>,
  base: { branch: string; sha: string },
  remoteTips: Map<string, string>
): Promise<void> {
  const reused = tasks.filter((t) => plan.get(t.id)?.mode === 'reuse')
  if (reused.length === 0) return
  await r.logger.group(`Reuse ${reused.length} task(s) finished by an earlier run`, async () => {
    const branches = reused.map((t) => taskBranchName(r.prefix, t.id))
    await fetchBranches(r.git, 'origin', branches, r.auth)
    await ensureMergeBases(
      r.git,
      'origin',
      base,
      reused.map((_, i) => ({ branch: branches[i], sha: remoteTips.get(branches[i])! })),
      r.auth
    )
    r.logger.info(
      `Not starting the agents of ${reused.map((t) => t.id).join(', ')}: their branches hold a merged result for the same task text`
    )
  })
}

/** `/fanout status`: the status comment redrawn from the recorded state, nothing run. */
export async function refreshStatus(
  r: Run,
  issue: IssueData,
  tasks: Task[],
  previous: RunState | undefined,
  statusComments: CommentData[]
): Promise<void> {
  const integrationBranch = integrationBranchName(r.prefix)
  const result: FanoutResult = {
    baseBranch:
      r.inputs.baseBranch ??
      (context.payload.repository?.default_branch as string | undefined) ??
      '',
    baseSha: previous?.baseSha ?? '',
    integrationBranch,
    integrationSha: '',
    tasks: tasks.map((t) =>
      t.checked
        ? {
            id: t.id,
            title: t.title,
            status: 'skipped',
            branch: taskBranchName(r.prefix, t.id),
            changedFiles: [],
            durationMs: 0,
            reason: 'checked in the issue (done)'
          }
        : keptResult(t, previous?.tasks[t.id], taskBranchName(r.prefix, t.id))
    )
  }
  const pr = await r.api.findOpenPull(
    integrationBranch,
    result.baseBranch || (await r.api.getDefaultBranch())
  )
  const pull = pr ? { number: pr.number, url: pr.url } : undefined
  const state = previous ? `\n${encodeState(previous)}` : ''
  const body = renderReport(result, {
    issueNumber: issue.number,
    pullRequest: pull,
    noPullRequestReason: pull ? undefined : 'none is open.',
    runUrl: runLink(),
    marker: `${statusMarker(issue.number)}${state}`
  })
  const comment = await upsertStatusComment(r.api, issue.number, body, r.logger, statusComments)
  setOutputs(result, pull, comment.id)
  await core.summary.addRaw(body).write()
  r.logger.info(`Refreshed the status comment: ${comment.url}`)
}

/** Parses the issue's task list; answers "no tasks" and "too many" on the issue itself. */
export async function readTasks(
  api: GitHubApi,
  issue: IssueData,
  inputs: ActionInputs,
  logger: Logger
): Promise<Task[] | undefined> {
  let tasks: Task[]
  try {
    tasks = parseTaskList(issue.body).tasks
  } catch (error) {
    if (error instanceof TaskListError) {
      await explainOnIssue(
        api,
        issue.number,
        `The task list of this issue could not be used: ${error.message}`,
        logger
      )
      throw new Error(`Task list of #${issue.number}: ${error.message}`)
    }
    throw error
  }
  const open = tasks.filter((t) => !t.checked)
  if (open.length === 0) {
    await explainOnIssue(
      api,
      issue.number,
      'No open tasks were found in this issue, so nothing was started.',
      logger
    )
    logger.warning(`Issue #${issue.number} has no open task items; nothing to do.`)
    return undefined
  }
  if (open.length > inputs.maxTasks) {
    const message = `This issue lists ${open.length} open tasks, more than max-tasks (${inputs.maxTasks}). Nothing was started: split the issue, or raise max-tasks in the workflow.`
    await explainOnIssue(api, issue.number, message, logger)
    throw new Error(message)
  }
  for (const task of tasks.filter((t) => t.reference && !t.checked)) {
    const ref = task.reference!.issueNumber
    let referenced: IssueData
    try {
      referenced = await api.getIssue(ref)
    } catch (error) {
      throw new Error(
        `Task ${task.id} refers to #${ref}, which could not be read: ${errorMessage(error)}`
      )
    }
    task.title = sanitizeIssueText(referenced.title).trim()
    task.body = [`(from #${ref}: ${referenced.url})`, '', sanitizeIssueText(referenced.body).trim()]
      .join('\n')
      .trim()
  }
  logger.info(
    `Found ${tasks.length} task item(s): ${open.length} open, ${tasks.length - open.length} done`
  )
  return tasks
}

export async function explainOnIssue(
  api: GitHubApi,
  issueNumber: number,
  message: string,
  logger: Logger,
  help: string = TASK_SYNTAX_HELP
): Promise<void> {
  // Keep the recorded state of earlier runs: a refusal now must not make the next run forget
  // which tasks are finished.
  const existing = await findStatusComments(api, issueNumber)
  const state = stateBlock(existing[0]?.body)
  const body = [
    statusMarker(issueNumber),
    ...(state ? [state] : []),
    '### agent-fanout: nothing started',
    '',
    message,
    ...(help ? ['', help] : [])
  ].join('\n')
  await upsertStatusComment(api, issueNumber, body, logger, existing)
  await core.summary.addRaw(body).write()
  core.setOutput('tasks', '[]')
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
    (t.status === 'failed' && !!t.commit)
  const updates: Omit<BranchUpdate, 'expected'>[] = [
    { branch: result.integrationBranch, sha: result.integrationSha },
    ...result.tasks
      .filter((t) => t.commit && keep(t))
      .map((t) => ({ branch: t.branch, sha: t.commit! })),
    ...result.tasks
      .filter((t) => ranNow.has(t.id) && !keep(t) && remoteTips.has(t.branch))
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
    ...(t.reused ? { reused: true } : {})
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
}

export function runLink(): string | undefined {
  const server = process.env.GITHUB_SERVER_URL
  const repo = process.env.GITHUB_REPOSITORY
  const runId = process.env.GITHUB_RUN_ID
  return server && repo && runId ? `${server}/${repo}/actions/runs/${runId}` : undefined
}
