import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { UserError } from '../util/errors.js'

/**
 * Sparse worktrees for monorepos: the `sparse-checkout` input (directories, one a line, as
 * actions/checkout takes them in its default cone mode) and a task's own `paths:` line.
 *
 * Each worktree gets its own cone in its own git dir (.git/worktrees/<id>/info/sparse-checkout,
 * which git reads per worktree) and the engine's checkouts in it run with core.sparseCheckout
 * and core.sparseCheckoutCone given per call (sparseConfig), never written to the shared
 * .git/config: `git sparse-checkout` itself would set extensions.worktreeConfig and raise the
 * repository's format version, a lasting change to the user's repository. Agents get the same
 * two settings in their environment (agents/env.ts), so their own checkouts stay sparse too.
 *
 * Sparse never changes what a commit holds: files outside the cone are in the index with their
 * skip-worktree bit, so `git add --all` leaves them as they are and every commit keeps them.
 */

/** The per-call config that makes git honour a worktree's own sparse-checkout file (cone mode). */
export const SPARSE_CONFIG: Readonly<Record<string, string>> = {
  'core.sparseCheckout': 'true',
  'core.sparseCheckoutCone': 'true'
}

/**
 * The `sparse-checkout` input as directories: one per line (or separated by spaces or commas, as
 * a task's `paths:` line writes them), a leading or trailing `/` ignored. Cone mode takes
 * directories only: a glob, `!`, `..` or an empty segment is an error naming the line.
 */
export function parseSparseDirs(text: string, what = 'sparse-checkout'): string[] {
  const dirs: string[] = []
  for (const raw of text.split(/[\n,]|\s+/)) {
    const entry = raw.trim()
    if (!entry || entry.startsWith('#')) continue
    const dir = entry.replace(/^\/+|\/+$/g, '')
    const bad =
      /[*?[\]!\\]/.test(dir) ||
      dir === '' ||
      dir.split('/').some((part) => part === '' || part === '.' || part === '..') ||
      dir === '.git' ||
      dir.startsWith('.git/')
    if (bad)
      throw new UserError(
        `${what}: "${entry}" is not a directory of the repository. Cone mode (as actions/checkout uses it) takes directory paths such as packages/api, one per line; no globs, "!", "." or "..".`
      )
    if (!dirs.includes(dir)) dirs.push(dir)
  }
  return dirs
}

/**
 * The directories a task's worktree shows: the run's cone narrowed by the task's `paths:`. A
 * task path inside one of the run's directories is kept; one that contains some of them keeps
 * those; one outside the run's cone is an error (its agent could see nothing it asked for).
 * Undefined: the whole tree.
 */
export function narrowSparseDirs(
  run: readonly string[] | undefined,
  task: readonly string[] | undefined,
  taskId: string
): string[] | undefined {
  if (!task || task.length === 0) return run && run.length > 0 ? [...run] : undefined
  if (!run || run.length === 0) return [...task]
  const dirs: string[] = []
  for (const wanted of task) {
    const within = run.some((r) => isUnder(wanted, r))
    const holding = run.filter((r) => isUnder(r, wanted))
    if (!within && holding.length === 0)
      throw new UserError(
        `Task ${taskId}: its paths: line names ${wanted}, which is outside the sparse-checkout input (${run.join(', ')}). Name a directory inside it, or widen the input.`
      )
    for (const dir of within ? [wanted] : holding) if (!dirs.includes(dir)) dirs.push(dir)
  }
  return dirs
}

/** True when `dir` is `parent` or below it. */
function isUnder(dir: string, parent: string): boolean {
  return dir === parent || dir.startsWith(`${parent}/`)
}

/**
 * The sparse-checkout file git writes for `git sparse-checkout set --cone <dirs>`: every file at
 * the top, each directory whole, and the files (not the subdirectories) of each of its parents.
 */
export function conePatterns(dirs: readonly string[]): string {
  const lines = ['/*', '!/*/']
  const parents = new Set<string>()
  for (const dir of [...dirs].sort()) {
    const parts = dir.split('/')
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      if (parents.has(parent)) continue
      parents.add(parent)
      lines.push(`/${escapeCone(parent)}/`, `!/${escapeCone(parent)}/*/`)
    }
  }
  for (const dir of [...dirs].sort()) lines.push(`/${escapeCone(dir)}/`)
  return `${lines.join('\n')}\n`
}

/** Cone patterns are gitignore syntax: characters with a meaning there are escaped. */
function escapeCone(dir: string): string {
  return dir.replace(/([\\*?[\]!#])/g, '\\$1').replace(/^(\s)/, '\\$1')
}

/**
 * Writes a worktree's cone into its own git dir before its checkout; returns the config the
 * checkout (and every later checkout in that worktree by the engine) must run with.
 */
export async function writeSparseCheckout(
  gitDir: string,
  dirs: readonly string[]
): Promise<Record<string, string>> {
  await mkdir(path.join(gitDir, 'info'), { recursive: true })
  await writeFile(path.join(gitDir, 'info', 'sparse-checkout'), conePatterns(dirs))
  return { ...SPARSE_CONFIG }
}

/**
 * Pathspecs for what a cone shows (for commits made from a fresh index, which has no
 * skip-worktree bits: without them `git add --all` would record every file outside the cone as
 * deleted). Top-level files, each directory whole, and the files of each parent directory.
 */
export function conePathspecs(dirs: readonly string[]): string[] {
  const specs = new Set<string>([':(top,glob)*'])
  for (const dir of dirs) {
    const parts = dir.split('/')
    for (let i = 1; i < parts.length; i++)
      specs.add(`:(top,glob)${globEscape(parts.slice(0, i).join('/'))}/*`)
    specs.add(`:(top,literal)${dir}`)
  }
  return [...specs]
}

function globEscape(text: string): string {
  return text.replace(/([\\*?[\]])/g, '\\$1')
}
