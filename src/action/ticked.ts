// Ticked boxes and later runs. A checked task is done and is not run again. But a task the
// action merged and ticked is done only on the integration branch, which every run rebuilds
// from the base: skipped like any checked task, its work would drop out of the pull request the
// moment anyone runs again (`/fanout retry T3`, say). So a checked task whose recorded result
// merged, from the same text, with its branch still on the remote, is carried: given to the run
// unchecked, where the plan reuses its branch (no agent starts) and merges it again.

import { isMerged, type Task } from '../core/types.js'
import type { GitHubApi } from '../github/api.js'
import { findStatusComments } from '../github/publish.js'
import { decodeState, taskHash, type RunState } from './state.js'

/**
 * The tasks with the carried ones unchecked. Without `remoteTips` (before the remote is read:
 * the "no open tasks" check, `/fanout status`), the branch is not checked.
 */
export function carryTicked(
  tasks: Task[],
  previous: RunState | undefined,
  remoteTips?: Map<string, string>
): Task[] {
  return tasks.map((task) => {
    const record = previous?.tasks[task.id]
    const carried =
      task.checked &&
      record !== undefined &&
      isMerged(record.status) &&
      record.hash === taskHash(task) &&
      record.commit !== undefined &&
      // Its branch is still there; moved by a person, the plan keeps their commits (people.ts).
      (!remoteTips || remoteTips.has(record.branch))
    return carried ? { ...task, checked: false } : task
  })
}

/** Whether an issue whose boxes are all ticked still has tasks the action carries. */
export async function holdsCarriedTasks(
  api: GitHubApi,
  issueNumber: number,
  tasks: Task[]
): Promise<boolean> {
  const previous = decodeState((await findStatusComments(api, issueNumber))[0]?.body)
  return carryTicked(tasks, previous).some((t) => !t.checked)
}
