import { errorMessage } from '../util/errors.js'
import type { AgentStage } from './agents.js'

/**
 * Once the last agent is done: the task worktrees whose removal waited (see Slots) go now,
 * alongside the merge, unless the caller takes the deletion for later.
 */
export function removeTaskWorktrees(stage: AgentStage): void {
  const { ws } = stage
  if (ws.options.deferDeletion) return
  ws.worktrees
    .remove(...stage.slots.later)
    .catch((error: unknown) =>
      ws.logger.warning(`Could not remove the tasks' worktrees: ${errorMessage(error)}`)
    )
}

/**
 * The end of every run, whatever happened: FIFOs closed, the object store's protection taken
 * back, and every worktree removed (or handed to the caller's deferDeletion).
 */
export async function cleanUp(stage: AgentStage): Promise<void> {
  const { ws } = stage
  await stage.fifos.dispose()
  // No agent runs any more: the object store needs no protection (taken back alongside).
  const released = ws
    .releaseObjects()
    .catch((error: unknown) =>
      ws.logger.warning(`Could not take back extensions.preciousObjects: ${errorMessage(error)}`)
    )
  if (ws.options.deferDeletion) {
    const { deleted } = await ws.worktrees.detachAll()
    ws.options.deferDeletion(Promise.all([deleted, released]).then(() => undefined))
  } else await Promise.all([ws.worktrees.removeAll(), released])
}
