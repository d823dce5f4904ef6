import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../types.js'
import { createLimiter } from '../util/pool.js'
import type { Git } from './git.js'
import { listRemoteRefs, pushRefs, type PushOutcome } from './remote.js'

/**
 * Submodules in task worktrees. A worktree's checkout leaves each submodule an empty directory;
 * here every submodule the workspace has initialised (its URL in .git/config and its module
 * store under .git/modules/<name>) gets a linked worktree of that store at the commit the task's
 * start records: no clone, no copy of objects, no network. A commit an agent makes inside the
 * submodule lands in the workspace's own module store, so it outlives the task's worktree (a
 * `git submodule update` clone per worktree would keep it in a private store that goes with it).
 * Linked worktrees of a module store ignore the store's core.worktree (the workspace's
 * directory), so git in them addresses the task's copy.
 *
 * A module store's worktree list is written by `git worktree add` file by file (see
 * worktrees.ts), so additions to one store are serialised.
 */

export interface Submodule {
  name: string
  /** Its path in the superproject. */
  path: string
  /** The workspace's module store (absolute). */
  store: string
}

/** Ref namespace in a module store that keeps a task's unpublished submodule commit. */
export const KEPT_SUBMODULE_REFS = 'refs/agent-fanout/kept'
/**
 * The same commits in the superproject (`<namespace>/<task branch>/<submodule name>`): the
 * action pushes them to its origin (pushKeptSubmoduleCommits), so they outlive the runner.
 */
export const SUBMODULE_COMMIT_REFS = 'refs/agent-fanout/submodules'

export class SubmoduleWorktrees {
  private readonly lanes = new Map<string, ReturnType<typeof createLimiter>>()

  private constructor(
    private readonly git: Git,
    private readonly logger: Logger,
    readonly modules: Submodule[]
  ) {}

  /**
   * The submodules of `commit` the workspace has initialised; undefined when there are none
   * (the usual case costs one stat). Worktree entries an earlier run left in their stores go.
   */
  static async find(
    git: Git,
    commonDir: string,
    commit: string,
    logger: Logger
  ): Promise<SubmoduleWorktrees | undefined> {
    const modules = await initialisedSubmodules(git, commonDir, commit)
    if (modules.length === 0) return undefined
    const found = new SubmoduleWorktrees(git, logger, modules)
    await found.prune()
    return found
  }

  /**
   * Checks out, in the worktree at `wtPath` (whose superproject commit is `commit`), every
   * submodule it records and the workspace has, where the checkout made its directory (a
   * sparse cone leaves some out). Overlay and checkout worktrees alike: the submodule's files
   * are written into the task's own tree (an overlay's upper layer).
   */
  async populate(wtPath: string, commit: string): Promise<void> {
    const links = await gitlinks(
      this.git,
      commit,
      this.modules.map((m) => m.path)
    )
    for (const module of this.modules) {
      const sha = links.get(module.path)
      if (!sha || !(await isDir(path.join(wtPath, module.path)))) continue
      const at = { env: { GIT_DIR: module.store } }
      if (!(await this.git.test(['cat-file', '-e', `${sha}^{commit}`], at))) {
        this.logger.warning(
          `Submodule ${module.path}: commit ${sha.slice(0, 12)} is not in the workspace's module store, so task worktrees leave it empty (run \`git submodule update\` before this step).`
        )
        continue
      }
      await this.lane(module.store)(() =>
        this.git.run(
          ['worktree', 'add', '--quiet', '--detach', path.join(wtPath, module.path), sha],
          at
        )
      )
    }
  }

  /** Forgets the module stores' worktrees whose files are gone (after task worktrees go). */
  async prune(): Promise<void> {
    await Promise.all(
      this.modules.map((m) =>
        this.lane(m.store)(() =>
          this.git.run(['worktree', 'prune'], { env: { GIT_DIR: m.store }, okExitCodes: [128] })
        )
      )
    )
  }

  private lane(store: string): ReturnType<typeof createLimiter> {
    let lane = this.lanes.get(store)
    if (!lane) this.lanes.set(store, (lane = createLimiter(1)))
    return lane
  }
}

/** The submodules recorded in `commit`'s .gitmodules whose store the workspace has. */
async function initialisedSubmodules(
  git: Git,
  commonDir: string,
  commit: string
): Promise<Submodule[]> {
  const modulesDir = path.join(commonDir, 'modules')
  if (!(await isDir(modulesDir))) return []
  const paths = await configEntries(git, ['--blob', `${commit}:.gitmodules`], /\.path$/)
  const urls = await configEntries(git, [], /^submodule\..*\.url$/)
  const found: Submodule[] = []
  for (const [key, subPath] of paths) {
    const name = key.slice('submodule.'.length, -'.path'.length)
    const store = path.join(modulesDir, name)
    if (!urls.has(`submodule.${name}.url`) || !(await isDir(store))) continue
    found.push({ name, path: subPath.replace(/\/+$/, ''), store })
  }
  return found
}

/** `git config [--blob x] -z --get-regexp`, as key → value, filtered by key. */
async function configEntries(
  git: Git,
  source: string[],
  keys: RegExp
): Promise<Map<string, string>> {
  const out = await git.run(['config', ...source, '-z', '--get-regexp', '^submodule\\.'], {
    okExitCodes: [1, 128]
  })
  const entries = new Map<string, string>()
  if (out.exitCode !== 0) return entries
  for (const record of out.stdout.split('\0').filter(Boolean)) {
    const newline = record.indexOf('\n')
    const key = record.slice(0, newline)
    if (keys.test(key)) entries.set(key, record.slice(newline + 1))
  }
  return entries
}

/** Gitlinks (mode 160000) at the given paths of `commit`: path → commit id. */
export async function gitlinks(
  git: Git,
  commit: string,
  paths: string[]
): Promise<Map<string, string>> {
  const links = new Map<string, string>()
  if (paths.length === 0) return links
  const out = await git.out(['ls-tree', '-z', commit, '--', ...paths])
  for (const entry of out.split('\0').filter(Boolean)) {
    const [meta, name] = [entry.slice(0, entry.indexOf('\t')), entry.slice(entry.indexOf('\t') + 1)]
    const [mode, , sha] = meta.split(' ')
    if (mode === '160000') links.set(name, sha)
  }
  return links
}

/**
 * Why a task's work must not be merged as it is: a gitlink it changed points at a commit that
 * its submodule's remote does not have (checked against the module store's remote-tracking
 * branches, fetched once more when they do not have it), so the merged superproject would name
 * a commit nobody can check out. The commit, where the store has it, is kept under a ref of its
 * own there, and the reason says where and what to push. Undefined: nothing to object to.
 */
export async function unpublishedSubmodules(
  git: Git,
  commonDir: string,
  startSha: string,
  tip: string,
  taskBranch: string | undefined
): Promise<string | undefined> {
  const modulesDir = path.join(commonDir, 'modules')
  if (!(await isDir(modulesDir))) return undefined
  const changed = await changedGitlinks(git, startSha, tip)
  if (changed.size === 0) return undefined
  const names = await configEntries(git, ['--blob', `${tip}:.gitmodules`], /\.path$/)
  const problems: string[] = []
  for (const [subPath, sha] of changed) {
    const key = [...names].find(([, p]) => p.replace(/\/+$/, '') === subPath)?.[0]
    const name = key?.slice('submodule.'.length, -'.path'.length)
    const store = name ? path.join(modulesDir, name) : undefined
    const short = sha.slice(0, 12)
    if (!store || !(await isDir(store))) {
      problems.push(
        `points ${subPath} at commit ${short}, in a submodule the workspace has not initialised, so it cannot be checked`
      )
      continue
    }
    if (await published(git, store, sha)) continue
    const at = { env: { GIT_DIR: store } }
    const has = await git.test(['cat-file', '-e', `${sha}^{commit}`], at)
    const ref = `${KEPT_SUBMODULE_REFS}/${taskBranch ?? 'detached'}`
    const superRef = `${SUBMODULE_COMMIT_REFS}/${taskBranch ?? 'detached'}/${refSafe(name!)}`
    if (has) {
      await git.run(['update-ref', ref, sha], at)
      await git.run([
        'fetch',
        '--quiet',
        '--no-tags',
        '--no-write-fetch-head',
        store,
        `+${ref}:${superRef}`
      ])
    }
    const remoteUrl = await git
      .out(['remote', 'get-url', await defaultRemote(git, store)], at)
      .catch(() => 'its remote')
    problems.push(
      has
        ? `changed submodule ${subPath} to commit ${short}, which the submodule's remote ${remoteUrl} does not have. The commit is kept in the workspace's module store ${path.relative(path.dirname(commonDir), store) || store} as ${ref}, and in this repository as ${superRef}: push it to the submodule's remote (\`git -C ${subPath} push origin ${sha}:refs/heads/<branch>\`), then merge this task's branch`
        : `points ${subPath} at commit ${short}, which neither the workspace nor the submodule's remote ${remoteUrl} has`
    )
  }
  if (problems.length === 0) return undefined
  return `Not merged: the task ${problems.join('; it ')}.`
}

/** A submodule name as one or more ref path components. */
function refSafe(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._/-]/g, '-')
      .split('/')
      .map((part) => part.replace(/^\.+/, '').replace(/\.lock$/, '-lock') || '-')
      .join('/')
      .replace(/\.\.+/g, '.') || 'submodule'
  )
}

/**
 * Pushes the superproject's kept submodule commits (SUBMODULE_COMMIT_REFS) that the remote
 * does not have yet: the work of a task whose submodule commit could not be merged stays
 * reachable after the runner is gone. Returns what was pushed and how it went.
 */
export async function pushKeptSubmoduleCommits(
  git: Git,
  remote: string,
  auth: Record<string, string>
): Promise<PushOutcome[]> {
  const local = await git.out([
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `${SUBMODULE_COMMIT_REFS}/`
  ])
  if (!local) return []
  const there = await listRemoteRefs(git, remote, `${SUBMODULE_COMMIT_REFS}/*`, auth)
  const updates = local
    .split('\n')
    .map((line) => ({
      sha: line.slice(0, line.indexOf(' ')),
      ref: line.slice(line.indexOf(' ') + 1)
    }))
    .filter((u) => there.get(u.ref) !== u.sha)
    .map((u) => ({ ...u, expected: there.get(u.ref) }))
  return pushRefs(git, remote, updates, auth)
}

/** Gitlinks added or changed between two commits: path → new commit id. */
async function changedGitlinks(git: Git, from: string, to: string): Promise<Map<string, string>> {
  const out = await git.out(['diff-tree', '-r', '-z', '--no-renames', from, to])
  const fields = out.split('\0')
  const links = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [, newMode, , newSha, status] = fields[i].replace(/^:/, '').split(' ')
    if (newMode === '160000' && status !== 'D') links.set(fields[i + 1], newSha)
  }
  return links
}

/** Whether a remote-tracking branch of the store contains `sha` (fetching once if not). */
async function published(git: Git, store: string, sha: string): Promise<boolean> {
  const at = { env: { GIT_DIR: store } }
  const contains = async (): Promise<boolean> => {
    if (!(await git.test(['cat-file', '-e', `${sha}^{commit}`], at))) return false
    const refs = await git.out(
      ['for-each-ref', '--count=1', '--contains', sha, '--format=%(refname)', 'refs/remotes/'],
      at
    )
    return refs !== ''
  }
  if (await contains()) return true
  const remote = await defaultRemote(git, store)
  const fetched = await git.run(
    ['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', remote],
    {
      ...at,
      okExitCodes: [1, 128]
    }
  )
  return fetched.exitCode === 0 && (await contains())
}

async function defaultRemote(git: Git, store: string): Promise<string> {
  const remotes = await git.out(['remote'], { env: { GIT_DIR: store } }).catch(() => '')
  const list = remotes.split('\n').filter(Boolean)
  return list.includes('origin') ? 'origin' : (list[0] ?? 'origin')
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false
  )
}
