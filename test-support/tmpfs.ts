// A small tmpfs for tests that fill a disk for real. Mounting needs root (CI runs as root);
// elsewhere the tests that need one are skipped with the reason in their name.
import { execFile } from 'node:child_process'
import { mkdir, rmdir } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { tempDir } from './git-fixtures.js'

const run = promisify(execFile)

export interface Tmpfs {
  dir: string
  /** Unmounts (lazily if something still holds it) and removes the mount point. Call in finally. */
  unmount(): Promise<void>
}

/** Mounts a tmpfs of `sizeMiB` MiB at a fresh directory under the temp dir. */
export async function mountTmpfs(sizeMiB: number, prefix = 'tmpfs'): Promise<Tmpfs> {
  const dir = path.join(await tempDir(prefix), 'mnt')
  await mkdir(dir)
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir])
  return {
    dir,
    async unmount() {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]))
      await rmdir(dir).catch(() => undefined)
    }
  }
}

/**
 * Whether this process can mount a tmpfs, found by trying once: undefined if it can, else why
 * not (for the skipped tests' names).
 */
export async function tmpfsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (CI runs as root)'
  try {
    const probe = await mountTmpfs(1, 'tmpfs-probe')
    await probe.unmount()
    return undefined
  } catch (error) {
    return `could not mount a tmpfs: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`
  }
}
