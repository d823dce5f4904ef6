import { randomBytes } from 'node:crypto'
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { errorMessage } from '../util/errors.js'
import { isNoSpace } from '../util/no-space.js'
import { GitError, type Git } from './git.js'
import { conePathspecs } from './sparse.js'
import type { RemoteAuth } from './submodule-remotes.js'
import { commitSubmoduleWork, unpublishedSubmodules } from './submodules.js'
import { worktreeEnv, type Worktree } from './worktrees.js'

/**
 * Judges what an agent left in its worktree and commits it, addressing only that worktree.
 *
 * Before anything is committed, the worktree's own git dir (.git/worktrees/<id>) is read: an
 * agent that exits in the middle of a merge, rebase, cherry-pick, revert, am or bisect, leaves
 * unmerged index entries, moves HEAD onto a branch that is not its task's, or deletes or rewrites
 * its .git file, has not finished; committing its worktree would commit conflict markers, drop
 * the commits an unfinished rebase had not replayed yet, or move someone else's branch. Such a
 * task fails, and what it left is saved on its own branch (below), which is kept.
 *
 * Every git command here names the worktree's git dir, the repository's and the work tree
 * explicitly (worktreeEnv): nothing an agent does to its .git file, or a repository around the
 * work dir, can send them anywhere else. The commit is made with `git commit` only after HEAD was
 * read from the worktree's git dir and found to be the task's branch (or a detached HEAD, which
 * moves nothing else); `git commit` moves the branch from exactly the commit it used as the
 * parent. That keeps the usual path at two git processes per task.
 */

export interface CollectOptions {
  /** The task's branch; undefined for a detached worktree (a re-run, a resolve). */
  branch?: string
  /** Where the task started; the fallback parent when nothing the agent committed is usable. */
  startSha: string
  message: string
  /** Says what a branch other than the task's is (the base branch, where it is checked out). */
  describeBranch?: (branch: string) => string
  /** A directory outside the worktrees' root, for files that could not be committed. */
  keepDir: string
  /** Message of the commit that saves an unfinished worktree (given the problems found). */
  saveMessage: (problems: string[]) => string
  /** Paths the agent CLI is known to drop (its history, caches): never committed. */
  excludes?: readonly string[]
  /** Exact pathspec excludes for what the setup-command left in this worktree (setup.ts). */
  setupExcludes?: (wt: Worktree) => Promise<readonly string[]>
  /**
   * The top-level names `git add --all` needs to look at (overlay worktrees know them); all
   * when unset or undefined.
   */
  scope?: (wt: Worktree) => Promise<readonly string[] | undefined>
  /** Credentials for asking a submodule's remote whether it has a commit (submodule-remotes.ts). */
  remoteAuth?: RemoteAuth
}

/** What a run knows that its tasks' collect options are made from (see taskCollectOptions). */
export interface RunContext {
  issueNumber: number
  baseBranch: string
  branchPrefix: string
  /** Branches checked out in the repository's other worktrees, and where. */
  checkedOut: ReadonlyMap<string, string>
  keepDir: string
  /** Paths the agent preset's CLI is known to drop (see presets/). */
  excludes: readonly string[]
  /** What the setup-command left, per worktree (see setup.ts); nothing when unset. */
  setupExcludes?: (wt: Worktree) => Promise<readonly string[]>
  /** Where a worktree can have changes (see CollectOptions.scope). */
  scope?: (wt: Worktree) => Promise<readonly string[] | undefined>
  /** See CollectOptions.remoteAuth. */
  remoteAuth?: RemoteAuth
}

/** The collect options of one task of a run: its commit messages and how it names branches. */
export function taskCollectOptions(
  run: RunContext,
  task: { id: string; title: string },
  branch: string | undefined,
  startSha: string
): CollectOptions {
  const trailers = `Agent-Fanout-Task: ${task.id}\nAgent-Fanout-Issue: ${run.issueNumber}\n`
  return {
    branch,
    startSha,
    message: `${task.id}: ${task.title}\n\n${trailers}`,
    saveMessage: (problems) =>
      `${task.id}: unfinished, not merged\n\nThe agent ${problems.join('; ')}. This commit holds its worktree's files as it left them, for a person to look at; its parents are the task branch and the agent's HEAD as they were.\n\n${trailers}`,
    describeBranch: (name) =>
      name === run.baseBranch
        ? ' (the base branch)'
        : run.checkedOut.has(name)
          ? ` (checked out at ${run.checkedOut.get(name)})`
          : name.startsWith(`${run.branchPrefix}/`)
            ? " (another task's branch)"
            : '',
    keepDir: run.keepDir,
    excludes: run.excludes,
    setupExcludes: run.setupExcludes,
    scope: run.scope,
    remoteAuth: run.remoteAuth
  }
}

export type Collected =
  /** The agent's result (committed if needed); `note` when it had to be rebuilt from files. */
  | { tip: string; note?: string }
  /** Not a result: why, and where its work is (`saved`: a commit now on its branch). */
  | { error: string; saved?: string; keepBranch: boolean }

export interface Head {
  /** The ref HEAD names (a symbolic HEAD), or undefined when detached. */
  ref?: string
  /** The commit, when it could be read from the files. */
  sha?: string
  unreadable?: boolean
}

const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/

/** Collects one worktree's work; never throws for what an agent did. */
export async function collectWork(
  git: Git,
  wt: Worktree,
  opts: CollectOptions
): Promise<Collected> {
  const look = await inspect(git, wt, opts)
  if (look.problems.length > 0) return saveUnfinished(git, wt, opts, look)
  // What the agent left uncommitted inside submodules, committed there first (submodules.ts).
  const inSubmodules = await commitSubmoduleWork(git, wt.submodules ?? [], opts.message)
  if (inSubmodules.length > 0)
    return saveUnfinished(git, wt, opts, { ...look, problems: inSubmodules })
  let work: Collected
  try {
    work = { tip: await commitWork(git, wt, opts, look.head) }
  } catch (error) {
    // A full disk is not rebuilt from (that needs space too) nor kept (the files would hold the
    // space every other task needs): the caller fails the task and removes its worktree.
    if (isNoSpace(error)) throw error
    work = await rebuildFromFiles(git, wt, opts, look.head, error)
  }
  if (!('tip' in work)) return work
  // A submodule commit its remote lacks would be a gitlink nobody can check out (submodules.ts).
  const unpublished = await unpublishedSubmodules(
    git,
    wt.commonDir,
    opts.startSha,
    work.tip,
    opts.branch,
    opts.remoteAuth
  )
  return unpublished ? { error: unpublished, saved: work.tip, keepBranch: !!opts.branch } : work
}

interface Inspection {
  head: Head
  problems: string[]
  /** The worktree's directory is gone: nothing of it can be saved. */
  gone?: boolean
}

/** What the agent left, from the worktree's own git dir; only files are read, no git process. */
async function inspect(git: Git, wt: Worktree, opts: CollectOptions): Promise<Inspection> {
  const problems: string[] = []
  if (await worktreeRemoved(wt))
    return { head: {}, problems: ['removed its worktree directory'], gone: true }
  const names = await readdir(wt.gitDir).catch(() => undefined)
  if (!names) {
    problems.push(
      `removed its worktree's git dir ${path.basename(wt.gitDir)} (git worktree remove or prune?)`
    )
    return { head: {}, problems }
  }
  const has = new Set(names)
  const state = await operationInProgress(wt.gitDir, has)
  if (state) problems.push(`left ${state} in progress`)

  const head = await readHead(wt)
  const wanted = opts.branch ? `refs/heads/${opts.branch}` : undefined
  if (head.unreadable) problems.push("left its worktree's HEAD unreadable")
  else if (head.ref && head.ref !== wanted) {
    const name = head.ref.replace(/^refs\/heads\//, '')
    const what = opts.describeBranch?.(name) ?? ''
    problems.push(
      opts.branch
        ? `switched its worktree to branch ${name}${what}, not its task branch ${opts.branch}`
        : `switched its worktree to branch ${name}${what}`
    )
  }

  const dotGit = await readFile(path.join(wt.path, '.git'), 'utf8').catch(() => undefined)
  if (dotGit === undefined) problems.push("deleted its worktree's .git file")
  else if (dotGit !== wt.dotGit) problems.push("rewrote its worktree's .git file")

  const unmerged = await unmergedPaths(git, wt, has.has('index'))
  if (unmerged.length > 0)
    problems.push(
      `left unmerged files: ${unmerged.slice(0, 10).map(shown).join(', ')}${more(unmerged, 10)}`
    )
  return { head, problems }
}

/** The operation a worktree's git dir says is under way, in git's own words. */
async function operationInProgress(gitDir: string, has: Set<string>): Promise<string | undefined> {
  const exists = (name: string): Promise<boolean> =>
    stat(path.join(gitDir, name)).then(
      () => true,
      () => false
    )
  // Git's merge backend writes rebase-merge/interactive for plain rebases too: say 'a rebase'.
  if (has.has('rebase-merge')) return 'a rebase'
  if (has.has('rebase-apply'))
    return (await exists('rebase-apply/applying')) ? 'a git am' : 'a rebase'
  if (has.has('MERGE_HEAD')) return 'a merge'
  if (has.has('CHERRY_PICK_HEAD')) return 'a cherry-pick'
  if (has.has('REVERT_HEAD')) return 'a revert'
  if (has.has('sequencer')) {
    const todo = await readFile(path.join(gitDir, 'sequencer', 'todo'), 'utf8').catch(() => '')
    return /^\s*revert\b/.test(todo) ? 'a revert' : 'a cherry-pick'
  }
  if (has.has('BISECT_LOG') || has.has('BISECT_START')) return 'a bisect'
  return undefined
}

/** HEAD as the worktree's own git dir has it (not what its .git file points at now). */
export async function readHead(wt: Worktree): Promise<Head> {
  const text = await readFile(path.join(wt.gitDir, 'HEAD'), 'utf8').catch(() => undefined)
  if (text === undefined) return { unreadable: true }
  const head = text.trim()
  if (!head.startsWith('ref: ')) return OBJECT_ID.test(head) ? { sha: head } : { unreadable: true }
  const ref = head.slice('ref: '.length)
  if (!/^refs\/heads\/[^\0]+$/.test(ref) || ref.split('/').some((p) => p === '..' || p === ''))
    return { ref }
  const value = (await readFile(path.join(wt.commonDir, ref), 'utf8').catch(() => '')).trim()
  return OBJECT_ID.test(value) ? { ref, sha: value } : { ref }
}

/** Paths with unmerged entries in the worktree's index (read from the file where possible). */
async function unmergedPaths(git: Git, wt: Worktree, hasIndex: boolean): Promise<string[]> {
  if (!hasIndex) return []
  const parsed = await readFile(path.join(wt.gitDir, 'index'))
    .then((bytes) => unmergedInIndex(bytes))
    .catch(() => undefined)
  if (parsed) return parsed
  // A layout read here does not cover (split index, a future version): ask git.
  const out = await git
    .out(['ls-files', '-u', '-z'], { cwd: wt.path, env: worktreeEnv(wt) })
    .catch(() => '')
  return [
    ...new Set(
      out
        .split('\0')
        .filter(Boolean)
        .map((l) => l.slice(l.indexOf('\t') + 1))
    )
  ]
}

/**
 * Paths of the entries at a merge stage (1-3) in a git index file, versions 2 to 4; undefined
 * when the file is not one this reads completely (a split index, an unknown version, damage).
 * See gitformat-index(5): a 12-byte header, then entries of 40 bytes of stat data, the object
 * id, 16 bits of flags (the stage in bits 12-13), 16 more with the extended flag, and the path:
 * NUL-padded to a multiple of 8 bytes (v2, v3) or prefix-compressed (v4).
 */
export function unmergedInIndex(bytes: Buffer): string[] | undefined {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'DIRC') return undefined
  const version = bytes.readUInt32BE(4)
  const count = bytes.readUInt32BE(8)
  if (version < 2 || version > 4) return undefined
  // The trailing checksum tells the hash: 20 bytes (SHA-1) or 32 (SHA-256); try SHA-1 first.
  for (const hashLen of [20, 32]) {
    const found = readEntries(bytes, version, count, hashLen)
    if (found) return found
  }
  return undefined
}

function readEntries(
  bytes: Buffer,
  version: number,
  count: number,
  hashLen: number
): string[] | undefined {
  const unmerged: string[] = []
  let offset = 12
  let previous = ''
  for (let i = 0; i < count; i++) {
    const flagsAt = offset + 40 + hashLen
    if (flagsAt + 2 > bytes.length) return undefined
    const flags = bytes.readUInt16BE(flagsAt)
    const extended = (flags & 0x4000) !== 0
    if (extended && version < 3) return undefined
    const nameAt = flagsAt + 2 + (extended ? 2 : 0)
    let name: string
    if (version === 4) {
      let at = nameAt
      let c = bytes[at++]
      let strip = c & 127
      while (c & 128) {
        c = bytes[at++]
        strip = ((strip + 1) << 7) + (c & 127)
      }
      const end = bytes.indexOf(0, at)
      if (end < 0 || strip > previous.length) return undefined
      name = previous.slice(0, previous.length - strip) + bytes.toString('latin1', at, end)
      offset = end + 1
    } else {
      const end = bytes.indexOf(0, nameAt)
      if (end < 0) return undefined
      name = bytes.toString('latin1', nameAt, end)
      offset += (nameAt - offset + (end - nameAt) + 8) & ~7
    }
    previous = name
    if ((flags >> 12) & 3) {
      const file = Buffer.from(name, 'latin1').toString('utf8')
      if (unmerged.at(-1) !== file) unmerged.push(file)
    }
  }
  // Extensions, then the checksum: each is a 4-byte signature and a 4-byte size.
  while (offset + 8 <= bytes.length - hashLen) {
    const signature = bytes.toString('latin1', offset, offset + 4)
    if (signature === 'link') return undefined // split index: entries live in another file too
    offset += 8 + bytes.readUInt32BE(offset + 4)
  }
  return offset === bytes.length - hashLen ? unmerged : undefined
}

/**
 * `git add --all` and `git commit` in the worktree, addressed explicitly, onto the HEAD just
 * read (the task's branch or a detached HEAD); returns the result and points the task's branch
 * at it. Exit 1 from `git commit` with "nothing to commit" means the agent committed everything
 * itself, or changed nothing.
 */
async function commitWork(
  git: Git,
  wt: Worktree,
  opts: CollectOptions,
  head: Head
): Promise<string> {
  const run = { cwd: wt.path, env: worktreeEnv(wt) }
  const [exact, scope] = await Promise.all([opts.setupExcludes?.(wt), opts.scope?.(wt)])
  if (scope?.length !== 0) {
    const added = await git.run(addAll(opts.excludes, exact, scope), { ...run, okExitCodes: [128] })
    // A name of the scope that matches no file now (a deleted untracked file): look at all.
    if (added.exitCode !== 0) await git.run(addAll(opts.excludes, exact), run)
  }
  const commit = await git.run(['commit', '--no-verify', '--quiet', '-F', '-'], {
    ...run,
    stdin: opts.message,
    okExitCodes: [1]
  })
  if (commit.exitCode === 1 && !/nothing to commit/.test(commit.stdout + commit.stderr))
    throw new GitError(['commit'], commit)
  const after = await readHead(wt)
  const tip = after.sha ?? (await git.out(['rev-parse', '--verify', 'HEAD^{commit}'], run))
  // A detached HEAD (allowed when it descends from the start, judged later) is still the task's
  // result: its branch follows it, from the commit it had when the agent ended.
  if (opts.branch && !head.ref)
    await git.run(['update-ref', `refs/heads/${opts.branch}`, tip], { env: commonEnv(wt) })
  return tip
}

/**
 * A commit that failed for a reason that is not the agent's (an object a sibling's prune took,
 * a damaged index, I/O): the work is in the worktree's files, so it is committed again from them
 * on a fresh index, on top of the newest commit of the task that is still whole. When even that
 * fails, the files are moved out of the worktree (which is about to be deleted) and the branch
 * is kept as the agent left it.
 */
async function rebuildFromFiles(
  git: Git,
  wt: Worktree,
  opts: CollectOptions,
  head: Head,
  cause: unknown
): Promise<Collected> {
  const why = oneLine(cause)
  const named = head.sha ?? head.ref
  const [headNow] = await resolveCommits(git, wt, [named]).catch(() => [named])
  // A HEAD that names no commit at all is what the agent left, not a result to rebuild on.
  if (named && !headNow) {
    const problem = `left HEAD naming no commit the repository has (${named.slice(0, 40)})`
    return saveUnfinished(git, wt, opts, { head, problems: [problem] })
  }
  try {
    const [parent = opts.startSha] = await wholeCommits(git, wt, [headNow], opts.startSha)
    const tip = await snapshot(git, wt, parent, [parent], opts)
    if (opts.branch)
      await git.run(['update-ref', `refs/heads/${opts.branch}`, tip], { env: commonEnv(wt) })
    return {
      tip,
      note: `its commit failed (${why}); its work was committed again from the files in its worktree`
    }
  } catch (error) {
    const again = oneLine(error)
    const failed = `the action could not commit its work: ${why}; committing it again from its files failed${again === why ? ' the same way' : `: ${again}`}`
    const { where, ...left } = await keepWhatIsLeft(git, wt, opts)
    return { ...left, error: `${failed}. ${where[0].toUpperCase()}${where.slice(1)}` }
  }
}

/**
 * Nothing could be committed: the worktree's files go where its deletion does not reach, and
 * the branch stays where the agent left it when it holds commits of the agent's (as the task's
 * `saved` commit, so that the action pushes it); a branch still at the start is nothing to keep.
 */
async function keepWhatIsLeft(
  git: Git,
  wt: Worktree,
  opts: CollectOptions,
  withFiles = true
): Promise<{ saved?: string; keepBranch: boolean; where: string }> {
  const kept = withFiles ? await keepFiles(wt, opts.keepDir) : undefined
  const files = kept ? `its files are kept at ${kept}` : 'its files could not be kept'
  const [tip] = opts.branch
    ? await resolveCommits(git, wt, [`refs/heads/${opts.branch}`]).catch(() => [undefined])
    : [undefined]
  const commits = `its branch ${opts.branch} keeps what the agent committed (${tip?.slice(0, 12)})`
  if (!tip || tip === opts.startSha) return { keepBranch: false, where: withFiles ? files : '' }
  return { saved: tip, keepBranch: true, where: withFiles ? `${files}; ${commits}` : commits }
}

/**
 * The agent did not finish: nothing is committed as its result. Its worktree, as it was left
 * (conflict markers and all), is saved as a commit on its branch whose parents are the branch as
 * the agent left it and, where it differs, its HEAD: an unfinished rebase's original commits and
 * the ones it replayed so far both stay reachable.
 */
async function saveUnfinished(
  git: Git,
  wt: Worktree,
  opts: CollectOptions,
  look: Inspection
): Promise<Collected> {
  const what = look.problems.join('; ')
  if (!opts.branch || look.gone) {
    const { where, ...left } = await keepWhatIsLeft(git, wt, opts, false)
    return { ...left, error: where ? `${what}; ${where}` : what }
  }
  const branchRef = `refs/heads/${opts.branch}`
  try {
    const [branchNow, headNow] = await resolveCommits(git, wt, [
      branchRef,
      look.head.sha ?? look.head.ref
    ])
    const parents = await wholeCommits(git, wt, [branchNow, headNow], opts.startSha)
    if (parents.length === 0) parents.push(opts.startSha)
    const saved = await snapshot(git, wt, parents[0], parents, {
      ...opts,
      message: opts.saveMessage(look.problems)
    })
    // From the value it had, so that a branch someone moves meanwhile is not overwritten.
    await git.run(['update-ref', branchRef, saved, ...(branchNow ? [branchNow] : [])], {
      env: commonEnv(wt)
    })
    return {
      error: `${what}. Nothing of it was merged; its branch ${opts.branch} keeps the work as the agent left it: commit ${saved.slice(0, 12)} holds the worktree's files as they were (conflict markers and all), with every commit the agent made before it`,
      saved,
      keepBranch: true
    }
  } catch (error) {
    const { where, ...left } = await keepWhatIsLeft(git, wt, opts)
    return {
      ...left,
      error: `${what}. Nothing of it was merged, and it could not be saved on its branch (${oneLine(error)}); ${where}`
    }
  }
}

/**
 * Commits the worktree's files as they are, through a fresh index of its own (seeded from
 * `base`), with the given parents. Needs nothing of the worktree's git dir or index, so it works
 * however the agent left them, and re-writes every object it needs from the files.
 */
async function snapshot(
  git: Git,
  wt: Worktree,
  base: string,
  parents: string[],
  opts: CollectOptions
): Promise<string> {
  await mkdir(opts.keepDir, { recursive: true })
  const index = path.join(opts.keepDir, `.index-${randomBytes(6).toString('hex')}`)
  const run = {
    cwd: wt.path,
    env: { GIT_DIR: wt.commonDir, GIT_WORK_TREE: wt.path, GIT_INDEX_FILE: index }
  }
  try {
    await git.run(['read-tree', base], run)
    await git.run(addAll(opts.excludes, await opts.setupExcludes?.(wt), undefined, wt.sparse), run)
    const tree = await git.out(['write-tree'], run)
    return await git.out(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'], {
      ...run,
      stdin: opts.message
    })
  } finally {
    await rm(index, { force: true })
  }
}

/** The commit each name (an id or a ref) stands for in the repository, or undefined; one process. */
async function resolveCommits(
  git: Git,
  wt: Worktree,
  names: (string | undefined)[]
): Promise<(string | undefined)[]> {
  const asked = names.map((n) => n ?? '0'.repeat(40))
  const checked = await git.out(['cat-file', '--batch-check=%(objecttype) %(objectname)'], {
    env: commonEnv(wt),
    stdin: asked.join('\n') + '\n'
  })
  const lines = checked.split('\n')
  return names.map((name, i) => {
    const [type, oid] = (lines[i] ?? '').split(' ')
    return name && type === 'commit' ? oid : undefined
  })
}

/**
 * Of the given commits, the ones git can read whole (the commit, its trees and blobs, and every
 * commit down to the task's start), deduplicated, in order.
 */
async function wholeCommits(
  git: Git,
  wt: Worktree,
  commits: (string | undefined)[],
  startSha: string
): Promise<string[]> {
  const whole: string[] = []
  for (const commit of new Set(commits)) {
    if (!commit) continue
    const walk = await git.run(['rev-list', '--objects', '--quiet', commit, '--not', startSha], {
      env: commonEnv(wt),
      okExitCodes: [128]
    })
    if (walk.exitCode === 0) whole.push(commit)
  }
  return whole
}

/** Moves a worktree's files out of the way of its deletion; returns where, or undefined. */
async function keepFiles(wt: Worktree, keepDir: string): Promise<string | undefined> {
  try {
    await mkdir(keepDir, { recursive: true })
    const target = path.join(keepDir, `${path.basename(wt.path)}-${randomBytes(3).toString('hex')}`)
    await rename(wt.path, target).catch(async (error: NodeJS.ErrnoException) => {
      // An overlay worktree is a mount point (worktrees.ts): its files are copied out instead.
      if (error.code !== 'EBUSY' && error.code !== 'EXDEV') throw error
      await cp(wt.path, target, { recursive: true, verbatimSymlinks: true })
    })
    // It is a plain directory now: its .git file would name a git dir that is about to go.
    await rm(path.join(target, '.git'), { force: true, recursive: true })
    return target
  } catch {
    return undefined
  }
}

/** The repository itself (refs and objects), named explicitly. */
function commonEnv(wt: Worktree): NodeJS.ProcessEnv {
  return { GIT_DIR: wt.commonDir }
}

/**
 * The agent removed its worktree directory: it is gone, or (an overlay's mount point, which
 * `rm -rf` empties but cannot remove) nothing is left in it, not even its .git file.
 */
export async function worktreeRemoved(wt: Pick<Worktree, 'path'>): Promise<boolean> {
  if (!(await isDir(wt.path))) return true
  const names = await readdir(wt.path).catch(() => undefined)
  return names !== undefined && names.length === 0
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false
  )
}

/** An error as one line for a reason: git's message lines, each once, joined. */
function oneLine(error: unknown): string {
  const lines = errorMessage(error)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  return [...new Set(lines)].join(' / ')
}

function more(list: unknown[], count: number): string {
  return list.length > count ? ` and ${list.length - count} more` : ''
}

/** A path as a reason shows it: quoted with escapes when it holds a line break or control. */
function shown(file: string): string {
  const control = [...file].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  return control ? JSON.stringify(file) : file
}

/**
 * `git add --all`, leaving out files the agent CLI is known to drop: git reads no per-worktree
 * info/exclude, so they are excluded here, by pathspec, as files and as folders. `exact` are
 * ready pathspecs (the set-up's paths); `scope`, top-level names to look at (all when unset).
 */
function addAll(
  excludes: readonly string[] = [],
  exact: readonly string[] = [],
  scope?: readonly string[],
  sparse?: readonly string[]
): string[] {
  const skip = [
    ...excludes.flatMap((p) => [`:(exclude,glob)**/${p}`, `:(exclude,glob)**/${p}/**`]),
    ...exact
  ]
  if (scope) return ['add', '--all', '--', ...scope.map((name) => `:(literal,top)${name}`), ...skip]
  // A fresh index has no skip-worktree bits: only the cone's paths are taken from the files, or
  // every file outside it would be recorded as deleted (sparse.ts).
  const take = sparse ? conePathspecs(sparse) : skip.length ? ['.'] : []
  return ['add', '--all', ...(take.length ? ['--', ...take, ...skip] : [])]
}
