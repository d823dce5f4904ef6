import * as core from '@actions/core'
import { context } from '@actions/github'
import os from 'node:os'
import path from 'node:path'
import { defaultBranchPrefix } from '../core/branches.js'
import { runFanout } from '../core/engine.js'
import { Git } from '../core/git/git.js'
import {
  fetchBranch,
  listRemoteBranches,
  pushBranches,
  tokenAuthConfig,
  type PushOutcome
} from '../core/git/remote.js'
import { renderReport, renderTaskTable, summaryLine } from '../core/report/markdown.js'
import { parseTaskList, TASK_SYNTAX_HELP, TaskListError } from '../core/tasks/parse.js'
import { sanitizeIssueText } from '../core/tasks/sanitize.js'
import type { FanoutResult, Logger, Task } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import { octokitApi, type GitHubApi, type IssueData } from '../github/api.js'
import { createOctokit } from '../github/client.js'
import { statusMarker, upsertPullRequest, upsertStatusComment } from '../github/publish.js'
import { HiddenCredentials } from './credentials.js'
import { getInputs, type ActionInputs } from './inputs.js'

/** @actions/core as the engine's Logger. */
export const coreLogger: Logger = {
  debug: (m) => core.debug(m),
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  error: (m) => core.error(m),
  group: (name, fn) => core.group(name, fn)
}

const WRITE_PERMISSIONS = new Set(['admin', 'write', 'maintain'])

/** Thrown to stop the run without failing the step (e.g. an actor who may not run it). */
class Refusal extends Error {}

export async function run(): Promise<void> {
  const logger = coreLogger
  let hidden: HiddenCredentials | undefined
  const abort = new AbortController()
  const onSignal = (signal: string): void => {
    logger.warning(`Received ${signal}: ending all agents and cleaning up`)
    abort.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const inputs = getInputs()
    core.setSecret(inputs.token)
    core.setSecret(Buffer.from(`x-access-token:${inputs.token}`).toString('base64'))
    const { owner, repo } = context.repo
    const api = octokitApi(createOctokit(inputs.token, logger), owner, repo)
    const issueNumber = resolveIssueNumber(inputs)
    const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
    const git = new Git(workspace, { identity: inputs.commitAuthor })

    const issue = await logger.group(`Read issue #${issueNumber}`, async () => {
      await authorize(api, logger)
      const data = await api.getIssue(issueNumber)
      if (data.isPullRequest) {
        throw new Refusal(
          `#${issueNumber} is a pull request; agent-fanout takes its tasks from issues and never runs pull request code.`
        )
      }
      return data
    })
    const tasks = await readTasks(api, issue, inputs, logger)
    if (!tasks) return

    const baseBranch =
      inputs.baseBranch ??
      (context.payload.repository?.default_branch as string | undefined) ??
      (await api.getDefaultBranch())
    const prefix = inputs.branchPrefix ?? defaultBranchPrefix(issueNumber)
    const auth = tokenAuthConfig(inputs.token)

    const { baseSha, remoteTips } = await logger.group(`Fetch ${baseBranch}`, async () => {
      const sha = await fetchBranch(git, 'origin', baseBranch, auth)
      const tips = await listRemoteBranches(git, 'origin', prefix, auth)
      logger.info(
        `Base ${baseBranch} is at ${sha}; ${tips.size} branch(es) of earlier runs under ${prefix}/`
      )
      return { baseSha: sha, remoteTips: tips }
    })

    const workDir = path.join(
      process.env.RUNNER_TEMP || os.tmpdir(),
      'agent-fanout',
      `issue-${issueNumber}`
    )
    // For the post step: if this process dies, it removes what was left behind.
    core.saveState('workDir', workDir)
    core.saveState('repoDir', workspace)
    hidden = await HiddenCredentials.hide(git, logger)
    let result: FanoutResult
    try {
      result = await runFanout({
        git,
        logger,
        issue: { number: issue.number, title: issue.title, url: issue.url },
        tasks,
        baseBranch,
        baseSha,
        agentCommand: inputs.agentCommand,
        maxParallel: inputs.maxParallel,
        taskTimeoutMs: inputs.taskTimeoutMs,
        branchPrefix: prefix,
        workDir,
        identity: inputs.commitAuthor,
        agentBaseEnv: process.env,
        secrets: [inputs.token],
        signal: abort.signal
      })
    } finally {
      await hidden.restore()
    }
    core.saveState('engineDone', 'true')

    const pushes = await logger.group('Push branches', () =>
      publishBranches(git, result, remoteTips, auth, logger)
    )
    const integrationPushed = pushes.find((p) => p.branch === result.integrationBranch)
    for (const failed of pushes.filter((p) => !p.ok)) {
      logger.warning(`Push of ${failed.branch} was rejected: ${failed.message}`)
    }

    const report = await logger.group('Report', async () => {
      const mergedAny = result.tasks.some((t) => t.status === 'merged')
      let pull: { number: number; url: string } | undefined
      let noPullRequestReason: string | undefined
      if (integrationPushed && !integrationPushed.ok) {
        noPullRequestReason = `the push of \`${result.integrationBranch}\` was rejected: ${integrationPushed.message}`
      } else if (!mergedAny) {
        noPullRequestReason = 'no task produced changes that could be merged.'
      }
      const allMerged = result.tasks
        .filter((t) => t.status !== 'skipped')
        .every((t) => t.status === 'merged')
      if (!noPullRequestReason) {
        const body = [
          `Tasks from #${issue.number}, each done by an agent in its own worktree and merged here in task-list order.`,
          '',
          renderTaskTable(result.tasks),
          '',
          allMerged
            ? `Closes #${issue.number}`
            : `Refs #${issue.number} (not every task merged; see the status comment there).`
        ].join('\n')
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
      const runUrl = runLink()
      const body = renderReport(result, {
        issueNumber: issue.number,
        pullRequest: pull,
        noPullRequestReason,
        runUrl,
        marker: statusMarker(issue.number)
      })
      const comment = await upsertStatusComment(api, issue.number, body, logger)
      logger.info(`${comment.created ? 'Posted' : 'Updated'} the status comment: ${comment.url}`)
      return { pull, comment, body }
    })

    setOutputs(result, report.pull, report.comment.id)
    await core.summary
      .addRaw(
        renderReport(result, {
          issueNumber: issue.number,
          pullRequest: report.pull,
          runUrl: runLink(),
          maxLength: 1_000_000
        })
      )
      .write()

    const failing = result.tasks.filter((t) => inputs.failOn.has(t.status))
    const rejected = pushes.filter((p) => !p.ok)
    if (failing.length > 0 || rejected.length > 0) {
      const parts = failing.map((t) => `${t.id} ${t.status}`)
      if (rejected.length)
        parts.push(`push rejected for ${rejected.map((p) => p.branch).join(', ')}`)
      core.setFailed(
        `agent-fanout: ${summaryLine(result)}. Failing because: ${parts.join('; ')} (see fail-on).`
      )
    } else {
      logger.info(`agent-fanout: ${summaryLine(result)}`)
    }
  } catch (error) {
    if (error instanceof Refusal) {
      core.warning(error.message)
      await core.summary.addRaw(`### agent-fanout did not run\n\n${error.message}\n`).write()
      return
    }
    core.setFailed(errorMessage(error))
  } finally {
    await hidden?.restore()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

function resolveIssueNumber(inputs: ActionInputs): number {
  if (inputs.issueNumber) return inputs.issueNumber
  const fromEvent = context.payload.issue?.number
  if (typeof fromEvent === 'number') return fromEvent
  throw new Error(
    `No issue to work on: the ${context.eventName} event carries no issue, so set the issue-number input (e.g. issue-number: \${{ inputs.issue }} for workflow_dispatch).`
  )
}

/** The human behind the event must be able to write to the repository. */
async function authorize(api: GitHubApi, logger: Logger): Promise<void> {
  const actor = (context.payload.sender?.login as string | undefined) ?? context.actor
  if (!actor) throw new Refusal('Cannot tell who triggered this run, so it is refused.')
  let permission: string
  try {
    permission = await api.getPermission(actor)
  } catch (error) {
    throw new Error(
      `Could not check ${actor}'s permission on the repository: ${errorMessage(error)}`
    )
  }
  if (!WRITE_PERMISSIONS.has(permission)) {
    throw new Refusal(
      `@${actor} has "${permission}" permission on ${api.owner}/${api.repo}; agent-fanout runs only for people with write, maintain or admin permission.`
    )
  }
  logger.info(`Triggered by ${actor} (${permission} permission)`)
}

/** Parses the issue's task list; answers "no tasks" and "too many" on the issue itself. */
async function readTasks(
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

async function explainOnIssue(
  api: GitHubApi,
  issueNumber: number,
  message: string,
  logger: Logger
): Promise<void> {
  const body = [
    statusMarker(issueNumber),
    '### agent-fanout: nothing started',
    '',
    message,
    '',
    TASK_SYNTAX_HELP
  ].join('\n')
  await upsertStatusComment(api, issueNumber, body, logger)
  await core.summary.addRaw(body).write()
  core.setOutput('tasks', '[]')
}

async function publishBranches(
  git: Git,
  result: FanoutResult,
  remoteTips: Map<string, string>,
  auth: Record<string, string>,
  logger: Logger
): Promise<PushOutcome[]> {
  // The integration branch, and every task branch holding work: merged ones (so reruns and
  // reviewers can see each task alone) and conflicted ones (their work must not be lost).
  const updates = [
    { branch: result.integrationBranch, sha: result.integrationSha },
    ...result.tasks
      .filter((t) => t.commit && (t.status === 'merged' || t.status === 'conflicted'))
      .map((t) => ({ branch: t.branch, sha: t.commit! }))
  ].map((u) => ({ ...u, expected: remoteTips.get(u.branch) }))
  const outcomes = await pushBranches(git, 'origin', updates, auth)
  for (const o of outcomes) logger.info(`${o.ok ? 'pushed' : 'REJECTED'} ${o.branch}: ${o.message}`)
  return outcomes
}

function setOutputs(
  result: FanoutResult,
  pull: { number: number; url: string } | undefined,
  commentId: number
): void {
  const ids = (status: string): string =>
    JSON.stringify(result.tasks.filter((t) => t.status === status).map((t) => t.id))
  // Agent output (log tails) stays out of step outputs: later steps must not consume it as data.
  core.setOutput(
    'tasks',
    JSON.stringify(
      result.tasks.map((t) => ({
        id: t.id,
        title: t.title,
        status: t.status,
        branch: t.branch,
        changedFiles: t.changedFiles,
        durationMs: t.durationMs,
        ...(t.commit ? { commit: t.commit } : {}),
        ...(t.reason ? { reason: t.reason } : {})
      }))
    )
  )
  core.setOutput('merged-tasks', ids('merged'))
  core.setOutput('conflicted-tasks', ids('conflicted'))
  core.setOutput('failed-tasks', ids('failed'))
  core.setOutput('integration-branch', result.integrationBranch)
  core.setOutput('pull-request-number', pull ? String(pull.number) : '')
  core.setOutput('pull-request-url', pull?.url ?? '')
  core.setOutput('status-comment-id', String(commentId))
}

function runLink(): string | undefined {
  const server = process.env.GITHUB_SERVER_URL
  const repo = process.env.GITHUB_REPOSITORY
  const runId = process.env.GITHUB_RUN_ID
  return server && repo && runId ? `${server}/${repo}/actions/runs/${runId}` : undefined
}
