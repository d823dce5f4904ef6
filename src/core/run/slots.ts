import type { Worktree } from '../git/worktrees.js'
import type { RunWorktrees } from '../run-worktrees.js'
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

  private readonly worktrees: RunWorktrees['manager']

  constructor(private readonly files: RunWorktrees) {
    this.worktrees = files.manager
  }

  /** A worktree for `slot` at `startSha` for the length of fn, removed afterwards whatever happens. */
  async with<T>(
    slot: string,
    branch: string | undefined,
    startSha: string,
    fn: (wt: Worktree, release: () => void) => Promise<T>,
    waitForRemoval = true,
    /** The task's `paths:` (its sparse cone within the run's: git/repo-features.ts). */
    paths?: string[]
  ): Promise<T> {
    const wt = await this.worktrees
      .create(slot, branch, startSha, paths)
      .catch(noSpaceAt(`while creating the worktree ${this.worktrees.pathFor(slot)}`))
    // Checkout mode: the set-up, in the worktree itself (see run-worktrees.ts).
    await this.files.ready(wt, slot).catch(async (error: unknown) => {
      await this.worktrees.remove(wt.path)
      throw error
    })
    // A task that failed needs its files no more: they go at once (a full disk gets room back).
    let removeNow = waitForRemoval
    try {
      return await fn(wt, () => (removeNow = true))
    } catch (error) {
      removeNow = true
      throw error
    } finally {
      await this.files.measure(wt, slot)
      if (removeNow) await this.worktrees.remove(wt.path)
      else this.later.push(wt.path)
    }
  }
}
