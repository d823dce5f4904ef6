// Ticks the boxes of tasks whose work is on the integration branch, so the issue shows what is
// done (and later runs skip those tasks). People may be editing the body meanwhile: the edit is
// a read-modify-write that reads the body again just before writing and starts over when it
// changed, so an edit made between our read and our write is kept. GitHub offers no conditional
// write for issues; the window left is the one round trip of the write itself.

import { parseTaskList } from '../core/tasks/parse.js'
import { tickTasks, type TickRequest } from '../core/tasks/tick.js'
import { isMerged, type Logger, type TaskResult } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import type { GitHubApi } from './api.js'

export async function tickDoneTasks(
  api: GitHubApi,
  issueNumber: number,
  requests: TickRequest[],
  logger: Logger,
  attempts = 5
): Promise<string[]> {
  if (requests.length === 0) return []
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const read = (await api.getIssue(issueNumber)).body
    let outcome
    try {
      outcome = tickTasks(read, requests)
    } catch (error) {
      logger.warning(`Did not tick the boxes of done tasks: ${errorMessage(error)}`)
      return []
    }
    for (const { id, why } of outcome.left) logger.info(`Did not tick ${id}: ${why}`)
    if (outcome.ticked.length === 0) return []
    const now = (await api.getIssue(issueNumber)).body
    if (now !== read) {
      logger.info(`The issue body changed while ticking boxes; reading it again (${attempt})`)
      continue
    }
    await api.updateIssueBody(issueNumber, outcome.body)
    logger.info(`Updated the boxes of ${outcome.ticked.join(', ')} in the issue's task list`)
    return outcome.ticked
  }
  logger.warning(
    `Did not tick the boxes of done tasks: the issue body kept changing (${attempts} tries)`
  )
  return []
}

/**
 * Ticks the tasks of `results` that are on the integration branch (merged statuses), as the
 * run read them from `bodyAsRead` (a task whose text changed since is left alone); clears the
 * box of a task the run carried (ticked, merged earlier: `carried`) whose work left the branch
 * (dropped, or re-run and failed).
 */
export async function tickMergedTasks(
  api: GitHubApi,
  issueNumber: number,
  bodyAsRead: string,
  results: TaskResult[],
  carried: Set<string>,
  logger: Logger
): Promise<string[]> {
  const merged = new Set(results.filter((t) => isMerged(t.status)).map((t) => t.id))
  let requests: TickRequest[]
  try {
    requests = parseTaskList(bodyAsRead).tasks.flatMap((t) => {
      const request = { id: t.id, title: t.title, body: t.body }
      if (!t.checked && merged.has(t.id)) return [request]
      if (t.checked && carried.has(t.id) && !merged.has(t.id)) return [{ ...request, untick: true }]
      return []
    })
  } catch {
    return []
  }
  try {
    return await tickDoneTasks(api, issueNumber, requests, logger)
  } catch (error) {
    // The boxes are a courtesy: the work is merged and reported either way.
    logger.warning(`Could not tick the boxes of merged tasks: ${errorMessage(error)}`)
    return []
  }
}
