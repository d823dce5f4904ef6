import { statfs } from 'node:fs/promises'
import { errorMessage } from './errors.js'

/**
 * A full disk, as the kernel says it (ENOSPC: no block or inode left; EDQUOT: the user's quota
 * is spent) and as git and the shell print it. Either way the run goes on: what hit it fails
 * with a reason that says so and where, everything else is judged and reported as usual.
 */
const CODES = new Set(['ENOSPC', 'EDQUOT'])
const TEXT = /no space left on device|disk quota exceeded/i

/** Whether `error` (a Node error, a GitError carrying git's stderr, any text) is a full disk. */
export function isNoSpace(error: unknown): boolean {
  if (error instanceof NoSpaceError) return true
  const code = (error as { code?: unknown } | null | undefined)?.code
  if (typeof code === 'string' && CODES.has(code)) return true
  return TEXT.test(error instanceof Error ? error.message : String(error))
}

/** Whether an agent's output says it ran out of space (dd, cp, git, the shell all print this). */
export function mentionsNoSpace(text: string): boolean {
  return TEXT.test(text)
}

/** A full disk met while doing `where`: its message says "no space left on device" and where. */
export class NoSpaceError extends Error {
  constructor(where: string, cause?: unknown) {
    const detail = cause === undefined ? '' : causeLine(cause)
    super(`no space left on device ${where}${detail ? ` (${detail})` : ''}`)
    this.name = 'NoSpaceError'
  }
}

/** A full disk met while doing `where`, as a NoSpaceError (one already is stays as it is). */
export function asNoSpace(error: unknown, where: string): NoSpaceError {
  return error instanceof NoSpaceError ? error : new NoSpaceError(where, error)
}

/**
 * For `.catch()`: a full disk becomes a NoSpaceError saying `where` ("while writing the prompt
 * file /x"); anything else is rethrown as it was.
 */
export function noSpaceAt(where: string): (error: unknown) => never {
  return (error) => {
    throw isNoSpace(error) ? asNoSpace(error, where) : error
  }
}

/** The line of git's (or Node's) message that says what ran out, without the rest of its stderr. */
function causeLine(cause: unknown): string {
  const lines = errorMessage(cause).split('\n')
  const line = lines.find((l) => TEXT.test(l)) ?? lines[0]
  return line.trim().slice(0, 300)
}

/** Free bytes and inodes for an unprivileged writer on the filesystem holding `dir`. */
export async function freeSpace(
  dir: string
): Promise<{ bytes: number; inodes: number; blockSize: number }> {
  const s = await statfs(dir)
  return {
    bytes: s.bavail * s.bsize,
    // Filesystems without an inode limit (btrfs, some tmpfs) report 0 files and 0 free.
    inodes: s.files > 0 ? s.ffree : Number.MAX_SAFE_INTEGER,
    blockSize: s.bsize
  }
}

/** Less than this free counts as a full disk when judging why something failed. */
const FULL_BELOW_BYTES = 1024 * 1024

/**
 * Why a failed command's failure may be the disk's: its output says "No space left on device",
 * or the filesystem of `dir` is (nearly) full now. Undefined when neither.
 */
export async function noSpaceNote(dir: string, output: string): Promise<string | undefined> {
  const free = await freeSpace(dir).catch(() => undefined)
  const full = free !== undefined && (free.bytes < FULL_BELOW_BYTES || free.inodes === 0)
  if (!full && !mentionsNoSpace(output)) return undefined
  const figure = free ? ` (${formatBytes(free.bytes)} free when it ended)` : ''
  return `no space left on device in ${dir}${full ? figure : ''}`
}

/** 1536 -> "1.5 KiB"; whole bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 'B'
  for (const next of units) {
    if (value < 1024) break
    value /= 1024
    unit = next
  }
  return unit === 'B' ? `${bytes} B` : `${Number(value.toFixed(1))} ${unit}`
}
