import { spawn } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../types.js'
import { Git, GitError } from './git.js'

export interface Worktree {
  path: string
  branch: string
}

// Transient failures from another git process writing the same admin area: lock files
// (config, index, refs, packed-refs), or a worktree's admin dir read while half-written.
const TRANSIENT_ERROR =
  /(could not lock|Unable to create '[^']*\.lock'|cannot lock ref|File exists|failed to read .*worktrees\/)/i

/**
 * Creates and removes the per-task worktrees, all under one private root outside the
 * workspace, so that cleanup can never touch anything the action does not own.
 *
 * git's worktree bookkeeping is not safe against itself: `worktree add` scans every entry in
 * .git/worktrees/ and fails on one another `add` is still writing (seen with git 2.39 at 16
 * concurrent adds). So the bookkeeping (milliseconds) is serialised here, and the expensive
 * part, checking out the files, runs in parallel in each worktree with its own index.
 */
export class WorktreeManager {
  private admin: Promise<unknown> = Promise.resolve()
  /** A `worktree prune` queued behind other admin work and not started yet. */
  private queuedPrune: Promise<unknown> | undefined

  constructor(
    private readonly git: Git,
    readonly root: string,
    private readonly logger: Logger
  ) {}

  /** Runs fn after every earlier admin operation of this manager has settled. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.admin.then(fn, fn)
    this.admin = run.catch(() => undefined)
    return run
  }

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
    await this.serial(() => this.git.run(['worktree', 'prune']))
    await mkdir(this.root, { recursive: true })
  }

  /**
   * A worktree for one task, on a new (or reset) branch at `startSha`; `branch` undefined gives
   * a detached worktree. The serialised `worktree add` is detached (with -B, git would run
   * `git branch -f` as one more process inside the serialised part); the branch is made by the
   * parallel checkout, `--no-track` from a commit id, so no config is written (upstream tracking
   * config is the classic `.git/config.lock` race of parallel adds).
   */
  async create(taskId: string, branch: string | undefined, startSha: string): Promise<Worktree> {
    const wtPath = this.pathFor(taskId)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.serial(() =>
          this.git.run(['worktree', 'add', '--no-checkout', '--detach', wtPath, startSha])
        )
        const checkout = branch
          ? ['checkout', '--quiet', '--force', '--no-track', '-B', branch, startSha]
          : ['reset', '--hard', '--quiet', startSha]
        await this.git.run(checkout, { cwd: wtPath })
        return { path: wtPath, branch: branch ?? '' }
      } catch (error) {
        const retryable = error instanceof GitError && TRANSIENT_ERROR.test(error.message)
        if (!retryable || attempt >= 6) throw error
        this.logger.debug(
          `worktree add for ${taskId} hit a concurrent git (attempt ${attempt}); retrying`
        )
        await this.forceRemove(wtPath)
        await sleep(50 * attempt + Math.floor(Math.random() * 50))
      }
    }
  }

  /**
   * Removes one of this run's worktrees: its files, then git's entry. Removals that finish
   * while a prune is still queued share it: when tasks end together, one prune replaces an
   * unlock and a prune each in the serialised queue. (A worktree someone locked survives the
   * prune; removeAll() unlocks it.)
   */
  async remove(wtPath: string): Promise<void> {
    await removeTree(wtPath)
    await this.prune()
  }

  /** A `worktree prune` that starts after this call (shared with calls until it starts). */
  private prune(): Promise<unknown> {
    this.queuedPrune ??= this.serial(() => {
      this.queuedPrune = undefined
      return this.git.run(['worktree', 'prune'], { okExitCodes: [128] })
    })
    return this.queuedPrune
  }

  /** Removes every worktree under the root and the root itself. */
  async removeAll(): Promise<void> {
    for (const p of (await this.list()).filter((p) => isInside(p, this.root))) {
      await this.forceRemove(p)
    }
    await rm(this.root, { recursive: true, force: true })
    await this.serial(() => this.git.run(['worktree', 'prune'], { okExitCodes: [128] }))
  }

  private async list(): Promise<string[]> {
    const out = await this.git.out(['worktree', 'list', '--porcelain', '-z'])
    return out
      .split('\0')
      .filter((line) => line.startsWith('worktree '))
      .map((line) => path.resolve(line.slice('worktree '.length)))
  }

  /** Deletes the files (in parallel with anything), then git's entry for them (serialised). */
  private async forceRemove(wtPath: string): Promise<void> {
    await removeTree(wtPath)
    await this.serial(async () => {
      await this.git.run(['worktree', 'unlock', wtPath], { okExitCodes: [128] })
      await this.git.run(['worktree', 'prune'], { okExitCodes: [128] })
    })
  }
}

/**
 * `rm -rf`: a worktree is thousands of files, and rm deletes them several times faster than
 * Node's recursive fs.rm (which stays the fallback where there is no rm).
 */
async function removeTree(dir: string): Promise<void> {
  const done = await new Promise<boolean>((resolve) => {
    const child = spawn('rm', ['-rf', '--', dir], { stdio: 'ignore' })
    child.once('error', () => resolve(false))
    child.once('close', (code) => resolve(code === 0))
  })
  if (!done) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child))
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}
