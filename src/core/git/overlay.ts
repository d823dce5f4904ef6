import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { toolEnv } from '../util/tool-env.js'

/**
 * Copy-on-write worktrees: Linux overlayfs. One shared checkout of the base (the lower dir,
 * read-only) under every task's worktree, and per task an upper dir that receives only what the
 * task changes. This module knows how to mount, unmount and find such mounts; worktrees.ts
 * decides when.
 */

/** How this process mounts: itself (root), or through passwordless sudo (GitHub-hosted runners). */
export type MountVia = 'root' | 'sudo'

export interface MountAbility {
  /** Undefined when overlay mounts are not possible here. */
  via?: MountVia
  /** Why (or why not), for the log. */
  reason: string
}

/** Runs mount, umount, rm as this process or through `sudo -n` (never asks for a password). */
export class Mounter {
  constructor(readonly via: MountVia) {}

  run(command: string, args: string[]): Promise<string> {
    const [file, argv] = this.via === 'sudo' ? ['sudo', ['-n', command, ...args]] : [command, args]
    return new Promise((resolve, reject) => {
      execFile(file, argv, { env: toolEnv(), encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`)
          )
        else resolve(stdout)
      })
    })
  }
}

// overlayfs splits its options at commas and lower dirs at colons; a backslash escapes. The
// engine's own paths (under the runner's temp dir) never need that: refuse rather than escape.
const UNSAFE_IN_OPTIONS = /[,:\\\n]/

/** The options of one overlay mount: `redirect_dir=on` so a directory of the base can be renamed. */
export function overlayOptions(dirs: { lower: string; upper: string; work: string }): string {
  for (const dir of Object.values(dirs))
    if (UNSAFE_IN_OPTIONS.test(dir))
      throw new Error(`overlay worktrees cannot use a path holding , : or \\ (${dir})`)
  // index=off: no hard-link index (its inode checks would refuse a rebuilt base); metacopy=off:
  // a copied-up file is a whole file, readable without the lower layer.
  return `lowerdir=${dirs.lower},upperdir=${dirs.upper},workdir=${dirs.work},redirect_dir=on,index=off,metacopy=off`
}

export async function mountOverlay(
  mounter: Mounter,
  dirs: { lower: string; upper: string; work: string; target: string }
): Promise<void> {
  await mounter.run('mount', ['-t', 'overlay', '-o', overlayOptions(dirs), 'overlay', dirs.target])
}

/** Makes `dir` read-only for everyone (agents included) by a read-only bind mount onto itself. */
export async function bindReadOnly(mounter: Mounter, dir: string): Promise<void> {
  await mounter.run('mount', ['--bind', dir, dir])
  try {
    await mounter.run('mount', ['-o', 'remount,bind,ro', dir])
  } catch (error) {
    await unmount(mounter, dir)
    throw error
  }
}

/**
 * Unmounts `target`; when something still uses it (an agent's leftover process with its cwd
 * there), detaches it lazily: it leaves the directory tree now and is freed when the last user
 * goes. Nothing of a task's upper dir is deleted before this returns.
 */
export async function unmount(mounter: Mounter, target: string): Promise<void> {
  try {
    await mounter.run('umount', [target])
  } catch {
    await mounter.run('umount', ['-l', target])
  }
}

/**
 * Mount points at or under `dir`, deepest first (the order they must go in), from
 * /proc/self/mountinfo: the kernel's word, so it finds mounts whoever made them.
 */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  const root = path.resolve(dir)
  const found = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => Boolean(field))
    .map((field) =>
      field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    )
    .filter((mountPoint) => mountPoint === root || mountPoint.startsWith(`${root}/`))
  return [...new Set(found)].sort((a, b) => b.length - a.length)
}

/** Unmounts everything at or under each dir (a mount stacked twice is unmounted twice). */
export async function unmountAllUnder(mounter: Mounter, ...dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let round = 0; round < 8; round++) {
      const mounts = await mountsUnder(dir)
      if (mounts.length === 0) break
      for (const target of mounts) await unmount(mounter, target).catch(() => undefined)
    }
  }
}

/**
 * Whether overlay worktrees can be mounted here without asking anyone: Linux with overlayfs,
 * and root or passwordless sudo; found by mounting a tiny overlay in `probeDir` once (a root
 * without CAP_SYS_ADMIN, in a container, cannot).
 */
export async function mountAbility(probeDir: string): Promise<MountAbility> {
  if (process.platform !== 'linux')
    return { reason: `overlayfs needs Linux (this is ${process.platform})` }
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '')
  if (!/\toverlay$/m.test(filesystems))
    return { reason: 'the kernel has no overlayfs (not in /proc/filesystems)' }
  let via: MountVia = 'root'
  if (process.getuid?.() !== 0) {
    const refused = await new Mounter('sudo').run('true', []).then(() => '', firstLine)
    if (/\bENOENT\b/.test(refused)) return { reason: 'not root, and there is no sudo here' }
    if (refused) return { reason: 'not root, and sudo asks for a password (sudo -n true failed)' }
    via = 'sudo'
  }
  const mounter = new Mounter(via)
  const probe = path.join(probeDir, `mount-probe-${process.pid}`)
  const dirs = {
    lower: path.join(probe, 'lower'),
    upper: path.join(probe, 'upper'),
    work: path.join(probe, 'work'),
    target: path.join(probe, 'merged')
  }
  try {
    await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true })))
    await mountOverlay(mounter, dirs)
    await unmount(mounter, dirs.target)
    return { via, reason: via === 'root' ? 'running as root' : 'passwordless sudo works' }
  } catch (error) {
    return { reason: `an overlay mount failed here: ${firstLine(error)}` }
  } finally {
    await removeAsMounter(mounter, probe)
  }
}

/**
 * Deletes a directory that may hold overlayfs's own root-owned work dirs (mode 000): through
 * the mounter when it is sudo. Never while something is mounted under it.
 */
export async function removeAsMounter(mounter: Mounter, dir: string): Promise<void> {
  if ((await mountsUnder(dir)).length > 0)
    throw new Error(`${dir} still has mounts under it; not deleting it`)
  if (mounter.via === 'sudo') await mounter.run('rm', ['-rf', '--', dir])
  else await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/**
 * The state file of a work dir's mounts: how they were made (so the post step of a killed run
 * unmounts them the same way) and which ones, written before each mount and after each unmount.
 */
export class MountRecord {
  private readonly mounts = new Set<string>()
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly file: string,
    readonly via: MountVia
  ) {}

  /** What a record file says, or undefined when there is none (no overlay run was there). */
  static async read(file: string): Promise<{ via: MountVia; mounts: string[] } | undefined> {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text === undefined) return undefined
    try {
      const parsed = JSON.parse(text) as { via?: unknown; mounts?: unknown }
      const via = parsed.via === 'sudo' ? 'sudo' : 'root'
      const mounts = Array.isArray(parsed.mounts)
        ? parsed.mounts.filter((m): m is string => typeof m === 'string')
        : []
      return { via, mounts }
    } catch {
      return { via: 'root', mounts: [] }
    }
  }

  add(target: string): Promise<void> {
    this.mounts.add(target)
    return this.save()
  }

  delete(target: string): Promise<void> {
    this.mounts.delete(target)
    return this.save()
  }

  private save(): Promise<void> {
    const text = `${JSON.stringify({ via: this.via, mounts: [...this.mounts] }, null, 2)}\n`
    this.writing = this.writing.then(async () => {
      await mkdir(path.dirname(this.file), { recursive: true })
      await writeFile(this.file, text)
    })
    return this.writing
  }
}

/**
 * A fingerprint of every file and directory under `dir` (path, type, mode, size, times, inode):
 * any write that bypasses the read-only mount changes it. One `find`, about 50 ms for 10,000
 * files.
 */
export async function treeFingerprint(dir: string): Promise<Map<string, string>> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'find',
      ['.', '-printf', '%P\\0%y %m %s %T@ %C@ %i\\0'],
      { cwd: dir, env: toolEnv(), encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 },
      (error, stdout) => (error ? reject(error) : resolve(stdout))
    )
  })
  const fields = out.split('\0')
  const entries = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) entries.set(fields[i], fields[i + 1])
  return entries
}

/** Paths whose entries differ between two fingerprints (added, removed or changed). */
export function fingerprintChanges(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>
): string[] {
  const changed: string[] = []
  for (const [p, entry] of after) if (before.get(p) !== entry) changed.push(p || '.')
  for (const p of before.keys()) if (!after.has(p)) changed.push(p || '.')
  return changed.sort()
}

/** A short id for a directory (its real path), for names that must not collide between runs. */
export function dirId(dir: string): string {
  return createHash('sha1').update(dir).digest('hex').slice(0, 12)
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]
}
