import { parseTaskList } from '../core/tasks/parse.js'
import { withSubIssues, type SubIssue } from '../core/tasks/sub-issues.js'
import type { Logger, Task } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import type { GitHubApi, IssueData } from '../github/api.js'

/**
 * The issue's tasks: its task list's items, then its sub-issues (core/tasks/sub-issues.ts has
 * the rules). A TaskListError says what to change in the issue.
 */
export async function issueTasks(
  api: GitHubApi,
  issue: IssueData,
  logger: Logger
): Promise<Task[]> {
  const listed = parseTaskList(issue.body).tasks
  return withSubIssues(listed, await readSubIssues(api, issue.number, logger))
}

/**
 * The sub-issues of this repository, in GitHub's order. A sub-issue of another repository is
 * not a task here (its work belongs to that repository): left out, with a warning naming it.
 * A server without sub-issues (404: an older GitHub Enterprise Server) has none.
 */
export async function readSubIssues(
  api: GitHubApi,
  issueNumber: number,
  logger: Logger
): Promise<SubIssue[]> {
  let subs: Awaited<ReturnType<GitHubApi['listSubIssues']>>
  try {
    subs = await api.listSubIssues(issueNumber)
  } catch (error) {
    if ((error as { status?: unknown }).status === 404) {
      logger.info(`No sub-issues read for #${issueNumber}: the server has no sub-issues API (404)`)
      return []
    }
    throw new Error(
      `Could not read the sub-issues of #${issueNumber}, which are tasks too: ${errorMessage(error)}`
    )
  }
  const here = `${api.owner}/${api.repo}`.toLowerCase()
  const kept: SubIssue[] = []
  for (const sub of subs) {
    if (sub.repository.toLowerCase() !== here) {
      logger.warning(
        `Sub-issue ${sub.repository}#${sub.number} is in another repository; its work belongs there, so it is not a task of this run.`
      )
      continue
    }
    if (sub.isPullRequest) continue
    kept.push({
      number: sub.number,
      title: sub.title,
      body: sub.body,
      url: sub.url,
      closed: sub.state === 'closed'
    })
  }
  if (subs.length > 0)
    logger.info(
      `Sub-issues of #${issueNumber}: ${kept.map((s) => `#${s.number}${s.closed ? ' (closed)' : ''}`).join(', ') || 'none of this repository'}`
    )
  return kept
}
