import type { TaskResult } from '../types.js'
import type { Workspace } from './prepare.js'
import type { Produced } from './task-result.js'

/**
 * Overlay worktrees share one read-only base: if it changed anyway while agents ran (root
 * remounting it, say), every task saw that change and none of their work can be trusted as
 * theirs. Then nothing is merged: each task with work fails with the reason, its branch keeping
 * the work, and the run says what changed.
 */
export async function refuseChangedBase(
  ws: Workspace,
  results: Map<string, TaskResult>,
  produced: Map<string, Produced>
): Promise<void> {
  const warning = await ws.files.baseChanged()
  if (!warning) return
  ws.warn(warning)
  for (const id of produced.keys()) {
    const result = results.get(id)!
    Object.assign(result, {
      status: 'failed',
      reason: `the shared base checkout was changed while agents ran; its branch ${result.branch} keeps its work`
    })
  }
  produced.clear()
}
