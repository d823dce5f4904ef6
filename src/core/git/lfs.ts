import path from 'node:path'
import type { Logger } from '../types.js'
import { UserError } from '../util/errors.js'
import { splitBatch } from './attributes.js'
import type { Git } from './git.js'

/**
 * Git LFS, for repositories that use it (a `filter=lfs` in a .gitattributes of the base, or a
 * .lfsconfig). Without this, worktrees would hold pointer files or fetch every object again per
 * worktree, and task branches, pushed with hooks off (remote.ts), would reach the remote without
 * their objects: a clone of them fails with "smudge filter lfs failed".
 *
 * - prepareLfs, once before any worktree and before the shared-.git guard's snapshot: git-lfs's
 *   filters and hooks are installed (only what is missing) and the base's objects are fetched
 *   into the shared .git/lfs store, authenticated like the run's fetches. Every worktree's
 *   checkout then smudges from that store, and git-lfs's own writes to .git/config and
 *   .git/hooks (lfs.repositoryformatversion, the hooks it installs on first use) happen before
 *   the guard looks, so they are not taken for an agent's.
 * - pushLfsObjects, before refs are pushed: `git lfs push` of exactly the commits about to be
 *   pushed, so no ref on the remote ever names commits whose objects it lacks.
 */

/** Whether the repository uses LFS in any of `commits` (one git process, two at most). */
export async function usesLfs(git: Git, ...commits: string[]): Promise<boolean> {
  const trees = [...new Set(commits)]
  if (trees.length === 0) return false
  const found = await git.run(
    ['grep', '-q', '-I', '-e', 'filter=lfs', ...trees, '--', ':(glob)**/.gitattributes'],
    { okExitCodes: [1, 128] }
  )
  if (found.exitCode === 0) return true
  return git.test(['cat-file', '-e', `${trees[0]}:.lfsconfig`], { okExitCodes: [128] })
}

/** LFS pointer files are under 1 KiB (the spec's limit) and at least this long. */
const POINTER_MIN = 120
const POINTER_MAX = 1023

/** Whether a blob of `size` bytes can be an LFS pointer (and is worth reading to find out). */
export function maybePointer(size: number): boolean {
  return size >= POINTER_MIN && size <= POINTER_MAX
}

/** The size of the file an LFS pointer stands for, or undefined when `text` is no pointer. */
function pointerSize(text: string): number | undefined {
  if (!text.startsWith('version https://git-lfs.github.com/spec/v1\n')) return undefined
  const size = /^size (\d+)$/m.exec(text)?.[1]
  return size === undefined ? undefined : Number(size)
}

/**
 * What a checkout of a tree writes for its LFS files: the size each pointer among `blobs`
 * (object ids of blobs that may be pointers, maybePointer) names, by object id. Read in one
 * `git cat-file --batch` with the tree's `.gitattributes` blobs: none is counted unless one of
 * them says filter=lfs (as usesLfs decides) or the tree has a .lfsconfig. No process at all for
 * a tree without either.
 */
export async function lfsFileSizes(
  git: Git,
  blobs: string[],
  tree: { attributes: string[]; lfsconfig: boolean }
): Promise<Map<string, number>> {
  const sizes = new Map<string, number>()
  if (blobs.length === 0 || (tree.attributes.length === 0 && !tree.lfsconfig)) return sizes
  const wanted = [...new Set([...tree.attributes, ...blobs])]
  const output = await git.bytes(['cat-file', '--batch'], {
    stdin: wanted.map((oid) => `${oid}\n`).join('')
  })
  const contents = new Map(splitBatch(output).map((c, i) => [wanted[i], c.toString('latin1')]))
  const uses =
    tree.lfsconfig || tree.attributes.some((oid) => contents.get(oid)?.includes('filter=lfs'))
  if (!uses) return sizes
  for (const oid of blobs) {
    const size = pointerSize(contents.get(oid) ?? '')
    if (size !== undefined) sizes.set(oid, size)
  }
  return sizes
}

/** The installed git-lfs (`git lfs version`), or undefined. */
export async function lfsVersion(git: Git): Promise<string | undefined> {
  const result = await git.run(['lfs', 'version'], { okExitCodes: [1, 2, 127, 128, 129] })
  return result.exitCode === 0 ? result.stdout.trim() : undefined
}

/**
 * Makes worktrees of `baseSha` get the real content of its LFS files; returns whether the
 * repository uses LFS. A repository that uses it on a machine without git-lfs is refused: its
 * agents would commit large files as plain blobs and its pointers would reach them as text.
 */
export async function prepareLfs(
  git: Git,
  /** Where the base's objects come from; undefined: a local run, best effort (see below). */
  remote: string | undefined,
  baseSha: string,
  auth: Record<string, string>,
  logger: Logger
): Promise<boolean> {
  if (!(await usesLfs(git, baseSha))) return false
  const version = await lfsVersion(git)
  if (!version)
    throw new UserError(
      'This repository uses Git LFS (filter=lfs in .gitattributes), but git-lfs is not installed here (`git lfs version` fails). Install it before this step (e.g. `apt-get install git-lfs`), or check out with `lfs: true` on a runner that has it.'
    )
  await installLfs(git, remote === undefined, logger)
  if (remote) await git.run(['lfs', 'fetch', remote, baseSha], { config: lfsConfig(auth) })
  else {
    // A local run (the CLI): what the store lacks is fetched from the first remote with the
    // user's own git-lfs set-up, if it can be; a checkout that needs more then says so.
    const [first] = (await git.out(['remote'])).split('\n').filter(Boolean)
    const fetched = first
      ? await git.run(['lfs', 'fetch', first, baseSha], { okExitCodes: [1, 2] })
      : undefined
    if (fetched && fetched.exitCode !== 0)
      logger.warning(
        `git lfs fetch ${first} failed (${fetched.stderr.trim().split('\n').at(-1) ?? ''}): worktrees get the LFS objects this repository's store has`
      )
  }
  logger.info(`Git LFS (${version}): the base's objects are in the shared store for every worktree`)
  return true
}

/**
 * git-lfs's filters and hooks, only what is missing: a runner with git-lfs's global config needs
 * its hooks at most. They go where the repository's own hooks are (the engine's calls point
 * core.hooksPath nowhere). A hook of the repository's own (a developer's pre-push) is left as
 * git-lfs leaves it: git-lfs then exits 2 having written its filters, which is all worktrees
 * need; pushes the engine makes upload their objects themselves (pushLfsObjects), but a local
 * user's own `git push` of the run's branches would not, which they are told.
 */
async function installLfs(git: Git, local: boolean, logger: Logger): Promise<void> {
  const filter = async (): Promise<string> =>
    git.out(['config', '--get', 'filter.lfs.process'], { okExitCodes: [1] })
  const hooks = { config: { 'core.hooksPath': await hooksPath(git) }, okExitCodes: [1, 2] }
  const installed = (await filter())
    ? await git.run(['lfs', 'update'], hooks)
    : await git.run(['lfs', 'install', '--local'], hooks)
  if (installed.exitCode === 0) return
  const said = `${installed.stderr}\n${installed.stdout}`.trim()
  if (!(await filter()))
    throw new UserError(
      `git lfs install --local failed (exit ${installed.exitCode}): ${said.split('\n').slice(0, 3).join(' ')}`
    )
  const hook = /Hook already exists: (\S+)/.exec(said)?.[1]
  const why = hook ? `this repository's own ${hook} hook is in the way` : said.split('\n')[0]
  const message = `git-lfs's hooks were not installed (${why}); worktrees get LFS content all the same.`
  if (local)
    logger.warning(
      `${message} A \`git push\` of this run's branches does not upload their LFS objects unless your hook runs git-lfs: run \`git lfs push <remote> <branch>\` first (\`git lfs update --manual\` shows how to merge the hooks).`
    )
  else logger.info(message)
}

/** The hooks directory the repository's own config names (not the engine's override). */
async function hooksPath(git: Git): Promise<string> {
  const out = await git.out(['config', '--show-scope', '--get-all', 'core.hooksPath'], {
    okExitCodes: [1]
  })
  const own = out
    .split('\n')
    .filter((line) => line && !line.startsWith('command\t'))
    .map((line) => line.slice(line.indexOf('\t') + 1))
    .at(-1)
  return (
    own ??
    path.join(await git.out(['rev-parse', '--path-format=absolute', '--git-common-dir']), 'hooks')
  )
}

/**
 * Uploads the LFS objects of `commits` (and their history not on the remote yet) to `remote`.
 * Returns undefined when done, or why not (git-lfs's last lines).
 */
export async function pushLfsObjects(
  git: Git,
  remote: string,
  commits: string[],
  auth: Record<string, string>
): Promise<string | undefined> {
  if (commits.length === 0) return undefined
  const result = await git.run(['lfs', 'push', remote, ...new Set(commits)], {
    config: lfsConfig(auth),
    okExitCodes: [1, 2]
  })
  if (result.exitCode === 0) return undefined
  const tail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ')
  return `its Git LFS objects could not be uploaded (${tail || `git lfs push exit ${result.exitCode}`})`
}

/**
 * The push's authentication for git-lfs too: its API lives at <remote>.git/info/lfs, which an
 * `http.<remote>.extraheader` keyed to a URL without `.git` does not cover (git matches URL
 * paths by whole segments). No lock verification: it is one more API call per push, and the
 * action never edits lockable files on someone's behalf.
 */
export function lfsConfig(auth: Record<string, string>): Record<string, string> {
  const config: Record<string, string> = { ...auth, 'lfs.locksverify': 'false' }
  for (const [key, value] of Object.entries(auth)) {
    const match = /^http\.(https?:\/\/.+)\.extraheader$/i.exec(key)
    if (!match) continue
    const base = match[1].replace(/\/+$/, '')
    const endpoint = `${base.endsWith('.git') ? base : `${base}.git`}/info/lfs`
    config[`http.${endpoint}.extraheader`] = value
  }
  return config
}
