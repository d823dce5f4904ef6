import type { Judged } from './judge.js'
import type { Workspace } from './prepare.js'

/**
 * Overlay worktrees share one read-only base: if it changed anyway while agents ran (root
 * remounting it, say), every task saw that change and none of their work can be trusted as
 * theirs. Then nothing is merged: each task with work fails with the reason, its branch keeping
 * the work, and the run says what changed.
 */
export async function refuseChangedBase(ws: Workspace, judged: Judged): Promise<void> {
  const warning = await ws.files.baseChanged()
  if (!warning) return
  ws.warn(warning)
  for (const id of judged.produced.keys()) {
    const result = judged.results.get(id)!
    Object.assign(result, {
      status: 'failed',
      reason: `the shared base checkout was changed while agents ran; its branch ${result.branch} keeps its work`
    })
  }
  judged.produced.clear()
}
