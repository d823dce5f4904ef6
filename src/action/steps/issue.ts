// The issue and its task list, read and checked; what cannot be run is explained on the issue.

import * as core from '@actions/core'
import { TASK_SYNTAX_HELP, TaskListError } from '../../core/tasks/parse.js'
import { sanitizeIssueText } from '../../core/tasks/sanitize.js'
import type { Logger, Task } from '../../core/types.js'
import { errorMessage } from '../../core/util/errors.js'
import type { GitHubApi, IssueData } from '../../github/api.js'
import { findStatusComments, statusMarker, upsertStatusComment } from '../../github/publish.js'
import { Refusal } from '../triggers.js'
import type { ActionInputs } from '../inputs.js'
import { stateBlock } from '../state.js'
import { holdsCarriedTasks } from '../ticked.js'
import type { Run } from './context.js'
import { issueTasks } from '../sub-issues.js'

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

/** Parses the issue's task list; answers "no tasks" and "too many" on the issue itself. */
export async function readTasks(
  api: GitHubApi,
  issue: IssueData,
  inputs: ActionInputs,
  logger: Logger
): Promise<Task[] | undefined> {
  let tasks: Task[]
  try {
    tasks = await issueTasks(api, issue, logger)
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
  // Boxes the action ticked still hold work for the pull request, and commands may name them.
  if (open.length === 0 && (await holdsCarriedTasks(api, issue.number, tasks))) return tasks
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
