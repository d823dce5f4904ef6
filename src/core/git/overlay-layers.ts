import { execFile } from 'node:child_process'
import { copyFile, lstat, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { toolEnv } from '../util/tool-env.js'
import type { Git } from './git.js'
import {
  bindReadOnly,
  fingerprintChanges,
  MountRecord,
  Mounter,
  mountOverlay,
  mountsUnder,
  removeAsMounter,
  treeFingerprint,
  unmountAllUnder,
  type MountVia
} from './overlay.js'

/** The file under a work dir's overlay area that records its mounts (see MountRecord). */
const RECORD = 'mounts.json'

/**
 * The overlay side of a run's worktrees, in one directory beside the worktrees' root:
 *
 *   base/          the shared checkout of the base commit: every task's lower dir, read-only
 *   base.index     its index, valid for what base/ holds; each worktree starts from a copy
 *   layers/<slot>/ upper and work dirs of one worktree: what that task changed, nothing else
 *   mounts.json    how and where mounts were made, so a later run or the post step undoes them
 *
 * The base is checked out once, may be set up (setup-command) while still writable, and is then
 * sealed: bind-mounted read-only over itself (agents cannot write it) and fingerprinted (a
 * change made any other way is found before merging).
 */
export class OverlayLayers {
  readonly baseDir: string
  readonly baseIndex: string
  private baseSha: string | undefined
  private sealed: Map<string, string> | undefined
  private readonly record: MountRecord

  constructor(
    private readonly git: Git,
    readonly dir: string,
    readonly mounter: Mounter
  ) {
    this.baseDir = path.join(dir, 'base')
    this.baseIndex = path.join(dir, 'base.index')
    this.record = new MountRecord(path.join(dir, RECORD), mounter.via)
  }

  /** The overlay area beside a worktrees root (both under the run's work dir). */
  static dirFor(worktreesRoot: string): string {
    return path.join(path.dirname(worktreesRoot), 'overlay')
  }

  /** The commit the base holds, once prepared. */
  get sha(): string | undefined {
    return this.baseSha
  }

  /**
   * Checks out `sha` into base/ with an index of its own (`read-tree -u`: one git process,
   * attributes and filters applied as in any checkout). WorktreeManager.recover() has undone
   * what an earlier run left by then.
   */
  async prepare(sha: string, commonDir: string): Promise<void> {
    await mkdir(this.baseDir, { recursive: true })
    await this.git.run(['read-tree', '--reset', '-u', sha], {
      env: { GIT_DIR: commonDir, GIT_WORK_TREE: this.baseDir, GIT_INDEX_FILE: this.baseIndex }
    })
    this.baseSha = sha
  }

  /**
   * After the set-up: the index's stat data refreshed (set-up may have touched tracked files;
   * a worktree then needs no re-hash of them), the base made read-only and fingerprinted.
   */
  async seal(commonDir: string): Promise<void> {
    await this.git.run(['update-index', '-q', '--refresh'], {
      cwd: this.baseDir,
      env: { GIT_DIR: commonDir, GIT_WORK_TREE: this.baseDir, GIT_INDEX_FILE: this.baseIndex },
      okExitCodes: [1]
    })
    await this.record.add(this.baseDir)
    await bindReadOnly(this.mounter, this.baseDir)
    this.sealed = await treeFingerprint(this.baseDir)
  }

  /** Paths of the base changed since it was sealed (by anything: agents cannot, read-only). */
  async changes(): Promise<string[]> {
    if (!this.sealed) return []
    return fingerprintChanges(this.sealed, await treeFingerprint(this.baseDir))
  }

  private layer(slot: string): { upper: string; work: string; top: string } {
    const top = path.join(this.dir, 'layers', slot)
    return { top, upper: path.join(top, 'upper'), work: path.join(top, 'work') }
  }

  /** The directory holding what the worktree at `slot` changed (for its disk use). */
  upperDir(slot: string): string {
    return this.layer(slot).upper
  }

  /**
   * Mounts the overlay of base/ at `target` (an empty directory) and gives the worktree's admin
   * dir a copy of the base's index, which is valid for every file the overlay shows from the base
   * (overlayfs shows the lower file's own inode, times and size): git re-reads nothing.
   */
  async mount(slot: string, target: string, adminDir: string): Promise<void> {
    if (!this.sealed) throw new Error('the overlay base is not sealed yet')
    const { upper, work } = this.layer(slot)
    await mkdir(upper, { recursive: true })
    await mkdir(work, { recursive: true })
    await this.record.add(target)
    await mountOverlay(this.mounter, { lower: this.baseDir, upper, work, target })
    await copyFile(this.baseIndex, path.join(adminDir, 'index'))
  }

  /** Unmounts the worktree at `target` and deletes its layer. */
  async unmount(slot: string, target: string): Promise<void> {
    if ((await mountsUnder(target)).length > 0) await unmountAllUnder(this.mounter, target)
    await this.record.delete(target)
    await removeAsMounter(this.mounter, this.layer(slot).top)
  }

  /** Every mount of this area and the worktrees' root undone, and the area deleted. */
  async dispose(worktreesRoot: string): Promise<void> {
    await releaseOverlays(worktreesRoot, this.dir, this.mounter)
    this.sealed = undefined
  }
}

/**
 * Undoes every mount under a run's worktrees root and overlay area (task overlays first, the
 * read-only base last) and deletes the area: after a crash too, from the kernel's list of mounts
 * and the record of how they were made. A no-op where there is no overlay area.
 */
export async function releaseOverlays(
  worktreesRoot: string,
  overlayDir = OverlayLayers.dirFor(worktreesRoot),
  mounter?: Mounter
): Promise<void> {
  const recorded = await MountRecord.read(path.join(overlayDir, RECORD))
  const mounted = [...(await mountsUnder(worktreesRoot)), ...(await mountsUnder(overlayDir))]
  if (!recorded && mounted.length === 0 && !(await exists(overlayDir))) return
  const via: MountVia =
    mounter?.via ?? recorded?.via ?? (process.getuid?.() === 0 ? 'root' : 'sudo')
  const using = mounter ?? new Mounter(via)
  await unmountAllUnder(using, worktreesRoot, overlayDir)
  await removeAsMounter(using, overlayDir)
}

/**
 * Bytes a directory takes on disk (blocks, hard links counted once: `du`), 0 when it is gone or
 * cannot be read.
 */
export function diskUsage(dir: string): Promise<number> {
  return new Promise((resolve) => {
    execFile('du', ['-s', '-B1', '--', dir], { env: toolEnv() }, (_error, stdout) => {
      const bytes = Number(String(stdout).split('\t')[0])
      resolve(Number.isFinite(bytes) && String(stdout).trim() ? bytes : 0)
    })
  })
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false
  )
}
