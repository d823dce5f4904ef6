import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../types.js'
import { createLimiter } from '../util/pool.js'
import { GitError, type Git, type GitRunOptions } from './git.js'
import { remoteHas, type RemoteAuth } from './submodule-remotes.js'
import { listRemoteRefs, pushRefs, type PushOutcome } from './remote.js'

/**
 * Submodules in task worktrees. A worktree's checkout leaves each submodule an empty directory;
 * here every submodule the workspace has initialised (its URL in .git/config and its module
 * store under .git/modules/<name>) gets a linked worktree of that store at the commit the task's
 * start records: no clone, no copy of objects, no network. A commit an agent makes inside the
 * submodule lands in the workspace's own module store, so it outlives the task's worktree (a
 * `git submodule update` clone per worktree would keep it in a private store that goes with it).
 * Linked worktrees of a module store ignore the store's core.worktree (the workspace's
 * directory), so git in them addresses the task's copy. Submodules of submodules (a workspace
 * initialised with `--recursive`) are found in the module stores' own module stores
 * (.git/modules/<a>/modules/<b>) and checked out inside their parent's worktree the same way.
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

/** A submodule worktree made in a task's worktree, as it was made (see Worktree). */
export interface SubmoduleCheckout {
  /** Its path in the superproject (lib/inner). */
  shown: string
  path: string
  gitDir: string
  commonDir: string
  /** What its .git file said then. */
  dotGit: string
  /** The commit it was made at. */
  sha: string
  /** The worktree (the task's, or a submodule's) it is in. */
  parent: string
}

export class SubmoduleWorktrees {
  private readonly lanes = new Map<string, ReturnType<typeof createLimiter>>()
  /** The module stores this run added worktrees to (nested ones too): pruned after removals. */
  private readonly used = new Set<string>()
  /** A module store's own initialised submodules at a commit (found once per pair). */
  private readonly nested = new Map<string, Promise<Submodule[]>>()

  private constructor(
    private readonly git: Git,
    private readonly logger: Logger,
    readonly modules: Submodule[]
  ) {}

  /**
   * The submodules of `commit` the workspace has initialised; undefined when there are none
   * (the usual case costs one stat).
   */
  static async find(
    git: Git,
    commonDir: string,
    commit: string,
    logger: Logger
  ): Promise<SubmoduleWorktrees | undefined> {
    const modules = await initialisedSubmodules(git, commonDir, commit)
    if (modules.length === 0) return undefined
    return new SubmoduleWorktrees(git, logger, modules)
  }

  /**
   * Checks out, in the worktree at `wtPath` (whose superproject commit is `commit`), every
   * submodule it records and the workspace has, where the checkout made its directory (a
   * sparse cone leaves some out). Overlay and checkout worktrees alike: the submodule's files
   * are written into the task's own tree (an overlay's upper layer).
   */
  async populate(wtPath: string, commit: string): Promise<SubmoduleCheckout[]> {
    const made: SubmoduleCheckout[] = []
    await this.fill(made, wtPath, '', commit, this.modules)
    return made
  }

  /**
   * The submodules of one repository (the superproject, or a submodule at `prefix` whose git
   * dir `at` names), then theirs: a workspace initialised with `--recursive` has the nested
   * ones' stores in its module stores (.git/modules/<a>/modules/<b>).
   */
  private async fill(
    made: SubmoduleCheckout[],
    dir: string,
    prefix: string,
    commit: string,
    modules: Submodule[],
    at?: GitRunOptions
  ): Promise<void> {
    const links = await gitlinks(
      this.git,
      commit,
      modules.map((m) => m.path),
      at
    )
    for (const module of modules) {
      const sha = links.get(module.path)
      const target = path.join(dir, module.path)
      if (!sha || !(await isDir(target))) continue
      const inStore = { env: { GIT_DIR: module.store } }
      if (!(await this.git.test(['cat-file', '-e', `${sha}^{commit}`], inStore))) {
        this.logger.warning(
          `Submodule ${prefix}${module.path}: commit ${sha.slice(0, 12)} is not in the workspace's module store, so task worktrees leave it empty (run \`git submodule update --recursive\` before this step).`
        )
        continue
      }
      await this.lane(module.store)(async () => {
        // Entries an earlier run left in this store go before its first worktree of this run.
        if (!this.used.has(module.store)) await this.pruneStore(module.store)
        this.used.add(module.store)
        await this.git.run(['worktree', 'add', '--quiet', '--detach', target, sha], inStore)
      })
      const dotGit = await readFile(path.join(target, '.git'), 'utf8')
      made.push({
        shown: `${prefix}${module.path}`,
        path: target,
        gitDir: path.resolve(target, dotGit.replace(/^gitdir: /, '').trim()),
        commonDir: module.store,
        dotGit,
        sha,
        parent: dir
      })
      const inner = await this.nestedOf(module.store, sha)
      if (inner.length > 0)
        await this.fill(made, target, `${prefix}${module.path}/`, sha, inner, inStore)
    }
  }

  private nestedOf(store: string, commit: string): Promise<Submodule[]> {
    const key = `${store}\0${commit}`
    let found = this.nested.get(key)
    if (!found)
      this.nested.set(
        key,
        (found = initialisedSubmodules(this.git, store, commit, { env: { GIT_DIR: store } }))
      )
    return found
  }

  /** Forgets the module stores' worktrees whose files are gone (after task worktrees go). */
  async prune(): Promise<void> {
    await Promise.all([...this.used].map((store) => this.lane(store)(() => this.pruneStore(store))))
  }

  private async pruneStore(store: string): Promise<void> {
    await this.git.run(['worktree', 'prune'], { env: { GIT_DIR: store }, okExitCodes: [128] })
  }

  private lane(store: string): ReturnType<typeof createLimiter> {
    let lane = this.lanes.get(store)
    if (!lane) this.lanes.set(store, (lane = createLimiter(1)))
    return lane
  }
}

/**
 * The submodules recorded in `commit`'s .gitmodules whose store the repository has: the
 * superproject's (`gitDir` its common dir), or a module store's own (`at` naming it).
 */
async function initialisedSubmodules(
  git: Git,
  gitDir: string,
  commit: string,
  at?: GitRunOptions
): Promise<Submodule[]> {
  const modulesDir = path.join(gitDir, 'modules')
  if (!(await isDir(modulesDir))) return []
  const paths = await configEntries(git, ['--blob', `${commit}:.gitmodules`], /\.path$/, at)
  const urls = await configEntries(git, [], /^submodule\..*\.url$/, at)
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
  keys: RegExp,
  at?: GitRunOptions
): Promise<Map<string, string>> {
  const out = await git.run(['config', ...source, '-z', '--get-regexp', '^submodule\\.'], {
    ...at,
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
  paths: string[],
  at?: GitRunOptions
): Promise<Map<string, string>> {
  const links = new Map<string, string>()
  if (paths.length === 0) return links
  const out = await git.out(['ls-tree', '-z', commit, '--', ...paths], at)
  for (const entry of out.split('\0').filter(Boolean)) {
    const [meta, name] = [entry.slice(0, entry.indexOf('\t')), entry.slice(entry.indexOf('\t') + 1)]
    const [mode, , sha] = meta.split(' ')
    if (mode === '160000') links.set(name, sha)
  }
  return links
}

/**
 * Commits what an agent left uncommitted inside a task's submodules, innermost first, with the
 * task's message: the work is kept like any commit an agent makes there, and
 * unpublishedSubmodules then judges it (it is on no remote, so the task is not merged and the
 * commits are kept). A parent records a child's new commit only when the child moved (the agent
 * or this committed there); a child left where it was made while its parent moved on (the agent
 * checked out another commit of the parent) stays as git leaves it: uncommitted. Git runs with
 * each submodule worktree's git dirs as recorded when it was made. Returns what went wrong, as
 * "the agent …".
 */
export async function commitSubmoduleWork(
  git: Git,
  checkouts: readonly SubmoduleCheckout[],
  message: string
): Promise<string[]> {
  const problems: string[] = []
  const moved = new Set<string>()
  for (const sub of [...checkouts].reverse()) {
    const dotGit = await readFile(path.join(sub.path, '.git'), 'utf8').catch(() => undefined)
    // A submodule the task removed has nothing to commit.
    if (dotGit === undefined && !(await isDir(sub.path))) continue
    if (dotGit !== sub.dotGit) {
      problems.push(`changed or removed the .git file of submodule ${sub.shown}`)
      continue
    }
    const run = {
      cwd: sub.path,
      env: { GIT_DIR: sub.gitDir, GIT_COMMON_DIR: sub.commonDir, GIT_WORK_TREE: sub.path }
    }
    const children = checkouts.filter((c) => c.parent === sub.path)
    try {
      await commitLeftWork(git, sub.path, run, children, moved, message)
      if ((await git.out(['rev-parse', 'HEAD'], run)) !== sub.sha) moved.add(sub.path)
    } catch (error) {
      problems.push(
        `left changes in submodule ${sub.shown} that could not be committed (${error instanceof Error ? error.message : String(error)})`
      )
    }
  }
  return problems
}

/** One submodule's commit of its files and of the children that moved (see above). */
async function commitLeftWork(
  git: Git,
  cwd: string,
  run: GitRunOptions,
  children: SubmoduleCheckout[],
  moved: ReadonlySet<string>,
  message: string
): Promise<void> {
  const files = await git.out(['status', '--porcelain', '--ignore-submodules=all'], run)
  if (!files && !children.some((c) => moved.has(c.path))) return
  await git.run(['add', '--all'], run)
  // Children that did not move are not recorded: their gitlinks stay as the parent has them.
  const still = children.filter((c) => !moved.has(c.path)).map((c) => path.relative(cwd, c.path))
  if (still.length > 0) await git.run(['reset', '--quiet', '--', ...still], run)
  const commit = await git.run(['commit', '--no-verify', '--quiet', '-F', '-'], {
    ...run,
    stdin: message,
    okExitCodes: [1]
  })
  if (
    commit.exitCode === 1 &&
    !/nothing to commit|nothing added/.test(commit.stdout + commit.stderr)
  )
    throw new GitError(['commit'], commit)
}

/** What checking one task's gitlinks needs, at every level of nesting. */
interface Check {
  git: Git
  /** The superproject's common git dir. */
  commonDir: string
  taskBranch: string | undefined
  remoteAuth?: RemoteAuth
}

/** One repository whose gitlinks are checked: the superproject, or a submodule in it. */
interface Level {
  /** Its module stores' directory. */
  modulesDir: string
  /** Where git addresses it (a module store's GIT_DIR); the superproject when unset. */
  at?: GitRunOptions
  /** Its path in the superproject, with a trailing slash ('' for the superproject). */
  prefix: string
  /** Its place under a task's SUBMODULE_COMMIT_REFS ('' for the superproject). */
  refPrefix: string
}

/**
 * Why a task's work must not be merged as it is: a gitlink it changed points at a commit that
 * its submodule's remote does not have (submodule-remotes.ts), so the merged superproject would
 * name a commit nobody can check out; or the remote could not be asked, so nobody knows. Such a
 * commit, where the store has it, is kept under a ref of its own there and in the superproject,
 * its own submodules' commits are checked the same way (a workspace initialised with
 * `--recursive`), and the reason says where they are and what to push, innermost first.
 * Undefined: nothing to object to.
 */
export async function unpublishedSubmodules(
  git: Git,
  commonDir: string,
  startSha: string,
  tip: string,
  taskBranch: string | undefined,
  remoteAuth?: RemoteAuth
): Promise<string | undefined> {
  const modulesDir = path.join(commonDir, 'modules')
  if (!(await isDir(modulesDir))) return undefined
  const check: Check = { git, commonDir, taskBranch, remoteAuth }
  const problems = await checkLevel(check, { modulesDir, prefix: '', refPrefix: '' }, startSha, tip)
  if (problems.length === 0) return undefined
  return `Not merged: the task ${problems.join('; it ')}.`
}

async function checkLevel(check: Check, level: Level, from: string, to: string): Promise<string[]> {
  const changed = await changedGitlinks(check.git, from, to, level.at)
  if (changed.size === 0) return []
  const names = await configEntries(check.git, ['--blob', `${to}:.gitmodules`], /\.path$/, level.at)
  const problems: string[] = []
  for (const [subPath, link] of changed) {
    const key = [...names].find(([, p]) => p.replace(/\/+$/, '') === subPath)?.[0]
    const name = key?.slice('submodule.'.length, -'.path'.length)
    const store = name ? path.join(level.modulesDir, name) : undefined
    const shown = `${level.prefix}${subPath}`
    if (!name || !store || !(await isDir(store))) {
      problems.push(
        `points ${shown} at commit ${link.sha.slice(0, 12)}, in a submodule the workspace has not initialised, so it cannot be checked`
      )
      continue
    }
    problems.push(...(await checkGitlink(check, level, { name, store, shown }, link)))
  }
  return problems
}

/** One changed gitlink: nothing when its remote has the commit, else what is wrong (nested first). */
async function checkGitlink(
  check: Check,
  level: Level,
  module: { name: string; store: string; shown: string },
  link: { old?: string; sha: string }
): Promise<string[]> {
  const { git } = check
  const { name, store, shown } = module
  const answer = await remoteHas(git, store, link.sha, check.remoteAuth)
  if ('has' in answer && answer.has) return []
  const at = { env: { GIT_DIR: store } }
  const short = link.sha.slice(0, 12)
  const has = await git.test(['cat-file', '-e', `${link.sha}^{commit}`], at)
  const asked =
    'unknown' in answer
      ? `could not check whether ${answer.url} has ${short}: ${answer.unknown}`
      : undefined
  if (!has)
    return [
      `points ${shown} at commit ${short}, which the workspace does not have, and ${asked ?? `the submodule's remote ${answer.url} does not have either`}`
    ]
  // Its own submodules' commits must be pushed first: checked against where it started.
  const inner = await checkNested(check, level, module, link)
  const kept = await keepCommit(check, store, `${level.refPrefix}${refSafe(name)}`, link.sha)
  const where = `The commit is kept in the workspace's module store ${path.relative(path.dirname(check.commonDir), store) || store} as ${kept.ref}, and in this repository as ${kept.superRef}`
  const what = asked
    ? `changed submodule ${shown} to commit ${short}, but ${asked}. ${where}: make sure the submodule's remote has it (\`git -C ${shown} push origin ${link.sha}:refs/heads/<branch>\`), then merge this task's branch`
    : `changed submodule ${shown} to commit ${short}, which the submodule's remote ${answer.url} does not have. ${where}: push it to the submodule's remote (\`git -C ${shown} push origin ${link.sha}:refs/heads/<branch>\`), then merge this task's branch`
  return [...inner, what]
}

/** The gitlinks a submodule commit changed in its own submodules (initialised `--recursive`). */
async function checkNested(
  check: Check,
  level: Level,
  module: { name: string; store: string; shown: string },
  link: { old?: string; sha: string }
): Promise<string[]> {
  const modulesDir = path.join(module.store, 'modules')
  if (!(await isDir(modulesDir))) return []
  const at = { env: { GIT_DIR: module.store } }
  const inner: Level = {
    modulesDir,
    at,
    prefix: `${module.shown}/`,
    refPrefix: `${level.refPrefix}${refSafe(module.name)}.modules/`
  }
  return checkLevel(check, inner, link.old ?? (await emptyTree(check.git, at)), link.sha)
}

/**
 * Keeps a submodule commit the task made: under KEPT_SUBMODULE_REFS in its module store, and
 * under SUBMODULE_COMMIT_REFS in the superproject (which the action pushes to its origin).
 */
async function keepCommit(
  check: Check,
  store: string,
  refName: string,
  sha: string
): Promise<{ ref: string; superRef: string }> {
  const branch = check.taskBranch ?? 'detached'
  const ref = `${KEPT_SUBMODULE_REFS}/${branch}`
  const superRef = `${SUBMODULE_COMMIT_REFS}/${branch}/${refName}`
  await check.git.run(['update-ref', ref, sha], { env: { GIT_DIR: store } })
  await check.git.run([
    'fetch',
    '--quiet',
    '--no-tags',
    '--no-write-fetch-head',
    store,
    `+${ref}:${superRef}`
  ])
  return { ref, superRef }
}

/** The empty tree's id in this repository's hash (git knows it without storing it). */
async function emptyTree(git: Git, at: GitRunOptions): Promise<string> {
  return git.out(['hash-object', '-t', 'tree', '--stdin'], { ...at, stdin: '' })
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

/** Gitlinks added or changed between two commits: path → the old (if any) and new commit. */
async function changedGitlinks(
  git: Git,
  from: string,
  to: string,
  at?: GitRunOptions
): Promise<Map<string, { old?: string; sha: string }>> {
  const out = await git.out(['diff-tree', '-r', '-z', '--no-renames', from, to], at)
  const fields = out.split('\0')
  const links = new Map<string, { old?: string; sha: string }>()
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [oldMode, newMode, oldSha, newSha, status] = fields[i].replace(/^:/, '').split(' ')
    if (newMode === '160000' && status !== 'D')
      links.set(fields[i + 1], { old: oldMode === '160000' ? oldSha : undefined, sha: newSha })
  }
  return links
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false
  )
}
