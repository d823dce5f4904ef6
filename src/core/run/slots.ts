import type { Worktree, WorktreeManager } from '../git/worktrees.js'
import { noSpaceAt } from '../util/no-space.js'

/**
 * Worktrees lent to the run's agents (tasks, re-runs, resolves), each for the length of one
 * function. When every task has its own worktree at once anyway (no more tasks than
 * max-parallel), removal waits until the last agent is done and then runs for all of them
 * together, alongside the merge, or after the run when the caller takes the deletion
 * (deferDeletion): it neither competes with the other tasks' work nor costs a process per task.
 * Otherwise the slot is free only once its files are gone, so at most max-parallel worktrees
 * are ever on disk.
 */
export class Slots {
  /** Worktrees whose removal waits for the clean stage (or the early removal after the agents). */
  readonly later: string[] = []

  constructor(private readonly worktrees: WorktreeManager) {}

  /** A worktree for `slot` at `startSha` for the length of fn, removed afterwards whatever happens. */
  async with<T>(
    slot: string,
    branch: string | undefined,
    startSha: string,
    fn: (wt: Worktree, release: () => void) => Promise<T>,
    waitForRemoval = true
  ): Promise<T> {
    const wt = await this.worktrees
      .create(slot, branch, startSha)
      .catch(noSpaceAt(`while creating the worktree ${this.worktrees.pathFor(slot)}`))
    // A task that failed needs its files no more: they go at once (a full disk gets room back).
    let removeNow = waitForRemoval
    try {
      return await fn(wt, () => (removeNow = true))
    } catch (error) {
      removeNow = true
      throw error
    } finally {
      if (removeNow) await this.worktrees.remove(wt.path)
      else this.later.push(wt.path)
    }
  }
}
