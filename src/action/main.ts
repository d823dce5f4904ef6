import * as core from '@actions/core'
import { context } from '@actions/github'
import { defaultBranchPrefix } from '../core/branches.js'
import { Git } from '../core/git/git.js'
import { remoteUrl, tokenAuthConfig } from '../core/git/remote.js'
import { errorMessage } from '../core/util/errors.js'
import { octokitApi, type GitHubApi } from '../github/api.js'
import { createOctokit } from '../github/client.js'
import { findStatusComments } from '../github/publish.js'
import { COMMAND_HELP, type ParsedCommand } from './commands.js'
import { mergeJob, planJob, taskJob } from './matrix.js'
import {
  authorize,
  editedAfterApproval,
  PROGRESS_LABELS,
  Refusal,
  resolveTriggers,
  type EventContext,
  type Trigger
} from './triggers.js'
import { getInputs, type ActionInputs } from './inputs.js'
import { decodeState } from './state.js'
import {
  backgroundWorkDone,
  coreLogger,
  explainOnIssue,
  readIssue,
  readTasks,
  refreshStatus,
  runAndPublish,
  withIssueLock,
  type Run
} from './steps.js'
import { runSecrets } from './pull-request.js'

/**
 * The action's main step: resolves what triggered it, then runs the whole job on this runner or
 * one of the matrix jobs (plan, task, merge); the steps they share are in steps.ts.
 */
export async function run(): Promise<void> {
  const logger = coreLogger
  const abort = new AbortController()
  const onSignal = (signal: string): void => {
    logger.warning(`Received ${signal}: ending all agents, then reporting what finished`)
    abort.abort('cancelled')
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let deadline: NodeJS.Timeout | undefined
  try {
    const inputs = getInputs()
    core.setSecret(inputs.token)
    core.setSecret(Buffer.from(`x-access-token:${inputs.token}`).toString('base64'))
    if (inputs.prToken) core.setSecret(inputs.prToken)
    if (inputs.deadlineMs) {
      deadline = setTimeout(() => {
        logger.warning(
          'The run reached its deadline (timeout-minutes): ending agents and reporting'
        )
        abort.abort('deadline')
      }, inputs.deadlineMs)
      deadline.unref()
    }
    const { owner, repo } = context.repo
    const api = octokitApi(createOctokit(inputs.token, logger), owner, repo)
    // Task and merge jobs act on the plan a plan job of the same workflow run made (after it
    // checked the trigger and the actor); they take the issue from the plan job's output.
    const triggers =
      inputs.mode === 'task' || inputs.mode === 'merge'
        ? [matrixTrigger(inputs)]
        : await resolveTriggers(context as unknown as EventContext, inputs, api, logger)
    if (inputs.mode === 'plan' && triggers.length > 1) {
      logger.info(
        `mode plan plans one issue per run: #${triggers[0].issueNumber} now, the others on the next schedule`
      )
      triggers.length = 1
    }
    const workspace = process.env.GITHUB_WORKSPACE || process.cwd()
    const git = new Git(workspace, { identity: inputs.commitAuthor, secrets: runSecrets(inputs) })
    const auth = triggers.length
      ? tokenAuthConfig(inputs.token, await remoteUrl(git, 'origin'))
      : {}
    for (const trigger of triggers) {
      const r: Run = {
        inputs,
        api,
        git,
        logger,
        issueNumber: trigger.issueNumber,
        prefix: inputs.branchPrefix ?? defaultBranchPrefix(trigger.issueNumber),
        auth,
        signal: abort.signal,
        trigger
      }
      try {
        if (inputs.mode === 'task') await taskJob(r)
        else if (inputs.mode === 'merge') await mergeJob(r)
        else await handleTrigger(r)
      } catch (error) {
        // A sweep takes the oldest labelled issues first: one it could not run is marked, so it
        // is not taken (and refused again) on every schedule ahead of the others.
        if (trigger.approvedAt) await markForAttention(api, trigger.issueNumber)
        if (!(error instanceof Refusal)) throw error
        core.warning(`#${trigger.issueNumber}: ${error.message}`)
        await core.summary
          .addRaw(`### agent-fanout did not run on #${trigger.issueNumber}\n\n${error.message}\n`)
          .write()
      }
      if (abort.signal.aborted) break
    }
  } catch (error) {
    if (error instanceof Refusal) {
      core.warning(error.message)
      await core.summary.addRaw(`### agent-fanout did not run\n\n${error.message}\n`).write()
    } else {
      core.setFailed(errorMessage(error))
    }
  } finally {
    await backgroundWorkDone()
    if (deadline) clearTimeout(deadline)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** Labels an issue a scheduled sweep could not run: the next sweeps skip it until a person looks. */
async function markForAttention(api: GitHubApi, issueNumber: number): Promise<void> {
  await api
    .addLabels(issueNumber, [PROGRESS_LABELS.attention])
    .catch((e: unknown) =>
      coreLogger.warning(
        `#${issueNumber}: could not add ${PROGRESS_LABELS.attention}: ${errorMessage(e)}`
      )
    )
}

function matrixTrigger(inputs: ActionInputs): Trigger {
  const issueNumber =
    inputs.issueNumber ?? (context.payload.issue as { number?: number } | undefined)?.number
  if (!issueNumber)
    throw new Error(
      `mode ${inputs.mode} needs the issue the plan job planned: set issue-number: \${{ needs.plan.outputs.issue-number }}.`
    )
  return {
    issueNumber,
    command: { kind: 'run' },
    actor: context.actor,
    actorType: 'User',
    how: `mode ${inputs.mode}`
  }
}

async function handleTrigger(r: Run): Promise<void> {
  const { api, logger, trigger } = r
  await authorize(trigger, r.inputs, api, logger)
  if (trigger.commentId) {
    await api
      .addReaction(trigger.commentId, 'eyes')
      .catch((e: unknown) => logger.warning(`Could not react to the command: ${errorMessage(e)}`))
  }
  if (trigger.command.kind === 'help') {
    await api.createComment(trigger.issueNumber, `${trigger.command.reason}\n\n${COMMAND_HELP}`)
    logger.warning(`${trigger.command.reason} Answered with the list of commands.`)
    return
  }
  core.saveState('issueNumber', String(trigger.issueNumber))
  await fanout(r, trigger.command)
}

async function fanout(
  r: Run,
  command: ParsedCommand & { kind: 'run' | 'retry' | 'drop' | 'status' }
): Promise<void> {
  const { api, logger, inputs } = r
  const issue = await readIssue(r)
  const edited = await editedAfterApproval(r.trigger, issue.body, api)
  if (edited) {
    await explainOnIssue(api, issue.number, `Not run: ${edited}`, logger)
    throw new Refusal(edited)
  }
  const tasks = await readTasks(api, issue, inputs, logger)
  if (!tasks) {
    if (r.trigger.approvedAt) await markForAttention(api, issue.number)
    return
  }
  if (command.kind === 'status') {
    const statusComments = await findStatusComments(api, issue.number)
    await refreshStatus(r, issue, tasks, decodeState(statusComments[0]?.body), statusComments)
    return
  }

  if (inputs.mode === 'plan') {
    await planJob(r, command, issue, tasks)
    return
  }
  await withIssueLock(r, issue.number, async () => {
    const statusComments = await findStatusComments(api, issue.number)
    const previous = decodeState(statusComments[0]?.body)
    return runAndPublish(r, command, issue, tasks, previous, statusComments)
  })
}
