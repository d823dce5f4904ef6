import { collectWork, taskCollectOptions, type Collected } from '../git/collect.js'
import type { Worktree } from '../git/worktrees.js'
import type { Task } from '../types.js'
import { noSpaceAt } from '../util/no-space.js'
import type { Workspace } from './prepare.js'

/**
 * Commits what a task's agent left in its worktree onto its branch (git/collect.ts does the
 * work). What the work is worth (its ancestry, the files it changes) is asked of git once for
 * all tasks after the last agent (judge.ts): two processes in all instead of two per task.
 */
export async function collectTask(
  ws: Workspace,
  wt: Worktree,
  task: Task,
  branch: string,
  startSha: string
): Promise<Collected> {
  const work = await collectWork(
    ws.git,
    wt,
    taskCollectOptions(ws.runContext, task, branch, startSha)
  ).catch(noSpaceAt(`while committing its work in ${wt.path}`))
  if (!('error' in work) && work.note) ws.warn(`[${task.id}] ${work.note}`)
  return work
}
