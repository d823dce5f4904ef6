import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../types.js'
import { Git, GitError } from './git.js'

export interface Worktree {
  path: string
  branch: string
}

// Lock files git may find held by a concurrent command: config, index, refs, packed-refs.
const LOCK_ERROR = /(could not lock|Unable to create '[^']*\.lock'|cannot lock ref|File exists)/i

/**
 * Creates and removes the per-task worktrees, all under one private root outside the
 * workspace, so that cleanup can never touch anything the action does not own.
 */
export class WorktreeManager {
  constructor(
    private readonly git: Git,
    readonly root: string,
    private readonly logger: Logger
  ) {}

  pathFor(taskId: string): string {
    return path.join(this.root, taskId)
  }

  /**
   * Removes what an earlier, crashed run left under the root: registered worktrees (even
   * locked ones, e.g. "initializing" after a SIGKILL), their directories and admin entries.
   */
  async recover(): Promise<void> {
    const listed = await this.list()
    const ours = listed.filter((p) => isInside(p, this.root))
    for (const stale of ours) {
      this.logger.info(`Removing stale worktree ${stale} left by an earlier run`)
      await this.forceRemove(stale)
    }
    await rm(this.root, { recursive: true, force: true })
    await this.git.run(['worktree', 'prune'])
    await mkdir(this.root, { recursive: true })
  }

  /**
   * `git worktree add` for one task, on a new (or reset) branch at `startSha`. `--no-track`
   * from a commit id writes no config, which is what makes parallel adds safe: upstream
   * tracking config is the classic `.git/config.lock` race. Lock errors from other writers
   * are still retried after undoing the partial attempt.
   */
  async create(taskId: string, branch: string, startSha: string): Promise<Worktree> {
    const wtPath = this.pathFor(taskId)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.git.run(['worktree', 'add', '--no-track', '-B', branch, wtPath, startSha])
        return { path: wtPath, branch }
      } catch (error) {
        const retryable = error instanceof GitError && LOCK_ERROR.test(error.message)
        if (!retryable || attempt >= 6) throw error
        this.logger.debug(`worktree add for ${taskId} hit a lock (attempt ${attempt}); retrying`)
        await this.forceRemove(wtPath)
        await sleep(50 * attempt + Math.floor(Math.random() * 50))
      }
    }
  }

  async remove(wtPath: string): Promise<void> {
    await this.forceRemove(wtPath)
  }

  /** Removes every worktree under the root and the root itself. */
  async removeAll(): Promise<void> {
    for (const p of (await this.list()).filter((p) => isInside(p, this.root))) {
      await this.forceRemove(p)
    }
    await rm(this.root, { recursive: true, force: true })
    await this.git.run(['worktree', 'prune'], { okExitCodes: [128] })
  }

  private async list(): Promise<string[]> {
    const out = await this.git.out(['worktree', 'list', '--porcelain', '-z'])
    return out
      .split('\0')
      .filter((line) => line.startsWith('worktree '))
      .map((line) => path.resolve(line.slice('worktree '.length)))
  }

  private async forceRemove(wtPath: string): Promise<void> {
    await this.git.run(['worktree', 'unlock', wtPath], { okExitCodes: [128] })
    const removed = await this.git.run(['worktree', 'remove', '--force', '--force', wtPath], {
      okExitCodes: [128]
    })
    if (removed.exitCode !== 0) {
      await rm(wtPath, { recursive: true, force: true })
      await this.git.run(['worktree', 'prune'], { okExitCodes: [128] })
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child))
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}
