import type { Logger } from '../types.js'
import type { Git } from './git.js'
import { narrowSparseDirs, writeSparseCheckout } from './sparse.js'
import { SubmoduleWorktrees, type SubmoduleCheckout } from './submodules.js'

/** How a worktree is made (worktrees.ts): a checkout of its own, or an overlay of a shared one. */
export type WorktreeMode = 'checkout' | 'overlay'

/** What a worktree needs around its checkout (sparse.ts, submodules.ts), for worktrees.ts. */
export interface WorktreeAdditions {
  /** Config every checkout the engine makes in it needs (a sparse cone's settings). */
  config?: Record<string, string>
  /** The directories it shows, when sparse. */
  sparse?: string[]
}

/**
 * What a repository needs in its task worktrees beyond a plain checkout: a sparse cone (the
 * run's `sparse-checkout`, narrowed per task by its `paths:`) and the workspace's initialised
 * submodules. The worktree manager calls it around each checkout, with the worktree's path and
 * mode; everything it does is in the task's own worktree and git dir, or (submodules) in module
 * stores' worktree lists, never in the shared .git/config.
 */
export class RepoFeatures {
  private constructor(
    private readonly sparse: string[] | undefined,
    private readonly submodules: SubmoduleWorktrees | undefined,
    private readonly logger: Logger
  ) {}

  /** Looks at the repository once (a stat when it has no module store). */
  static async detect(
    git: Git,
    commonDir: string,
    baseSha: string,
    logger: Logger,
    options: { sparse?: string[] } = {}
  ): Promise<RepoFeatures> {
    const submodules = await SubmoduleWorktrees.find(git, commonDir, baseSha, logger)
    if (submodules)
      logger.info(
        `Submodules in every worktree, from the workspace's module stores: ${submodules.modules.map((m) => m.path).join(', ')}`
      )
    const sparse = options.sparse?.length ? options.sparse : undefined
    return new RepoFeatures(sparse, submodules, logger)
  }

  /** The directories a worktree shows: the run's cone narrowed by a task's paths (or all). */
  dirsFor(taskId: string, paths?: string[]): string[] | undefined {
    return narrowSparseDirs(this.sparse, paths, taskId)
  }

  /**
   * Before a worktree's checkout: its cone in its own git dir. An overlay worktree shows the
   * shared checkout, whose cone is the run's (the overlay's lower tree is made with it).
   */
  async beforeCheckout(
    wt: { gitDir: string },
    mode: WorktreeMode,
    dirs: string[] | undefined
  ): Promise<WorktreeAdditions> {
    if (!dirs) return {}
    if (mode === 'overlay') {
      this.logger.debug('overlay worktree: it shows the shared checkout and its cone')
      return {}
    }
    return { config: await writeSparseCheckout(wt.gitDir, dirs), sparse: dirs }
  }

  /** After a worktree's checkout at `commit`: its submodules (what was made, for collect). */
  async afterCheckout(
    wt: { path: string },
    commit: string
  ): Promise<SubmoduleCheckout[] | undefined> {
    return this.submodules?.populate(wt.path, commit)
  }

  /** After worktrees' files are gone: the module stores forget their worktrees. */
  async afterRemoval(): Promise<void> {
    await this.submodules?.prune()
  }
}
