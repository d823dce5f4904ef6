import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../types.js'
import { createLimiter } from '../util/pool.js'
import { Git, GitError } from './git.js'
import { diskUsage, OverlayLayers, releaseOverlays } from './overlay-layers.js'
import type { Mounter } from './overlay.js'
import type { RepoFeatures } from './repo-features.js'
import type { SubmoduleCheckout } from './submodules.js'
import { toolEnv } from '../util/tool-env.js'

export interface Worktree {
  path: string
  branch: string
  /**
   * The worktree's own git dir (.git/worktrees/<id>) and the repository's, as they were when the
   * worktree was made: the engine's git commands in it name both explicitly (worktreeEnv), so an
   * agent that deletes or rewrites the worktree's .git file cannot send them anywhere else.
   */
  gitDir: string
  commonDir: string
  /** What the worktree's .git file said then. */
  dotGit: string
  /** Config the engine's checkouts in it need (a sparse cone: repo-features.ts). */
  config?: Record<string, string>
  /** The directories it shows, when sparse. */
  sparse?: string[]
  /** The submodule worktrees made in it (repo-features.ts), parents before their children. */
  submodules?: SubmoduleCheckout[]
}

/**
 * Environment that makes a git command address this worktree and nothing else: its own git dir,
 * the repository's common dir and its files, whatever its .git file (or a directory above it)
 * says now.
 */
export function worktreeEnv(
  wt: Pick<Worktree, 'path' | 'gitDir' | 'commonDir'>
): NodeJS.ProcessEnv {
  return { GIT_DIR: wt.gitDir, GIT_COMMON_DIR: wt.commonDir, GIT_WORK_TREE: wt.path }
}

// Transient failures from another git process writing the same admin area: lock files
// (config, index, refs, packed-refs), or a worktree's admin dir read while half-written.
const TRANSIENT_ERROR =
  /(could not lock|Unable to create '[^']*\.lock'|cannot lock ref|File exists|failed to read .*worktrees\/)/i

/** How many checkouts or removals run at once (see fileWork). */
const FILE_WORK_LANES = Math.max(2, availableParallelism())

/**
 * How worktrees are registered with git. `direct`: the engine writes git's admin files itself
 * (see register()); `git`: `git worktree add`/`prune`, serialised, for repositories whose layout
 * needs more than the plain files (reftable refs, per-worktree config, sparse checkouts).
 */
type Registration = { kind: 'direct' | 'git'; commonDir: string }

/**
 * How a worktree gets its files. `checkout`: git writes every file of the tree into it.
 * `overlay`: it is an overlayfs mount of one shared, read-only checkout of the base (see
 * overlay-layers.ts), and gets a copy of that checkout's index; only what a task changes is
 * ever written, into the task's own upper dir.
 */
export type WorktreeMode = 'checkout' | 'overlay'

/**
 * Creates and removes the per-task worktrees, all under one private root outside the
 * workspace, so that cleanup can never touch anything the action does not own.
 *
 * git's worktree bookkeeping is not safe against itself: `worktree add` writes its admin files
 * (.git/worktrees/<id>/gitdir, commondir, HEAD) one by one, and any git that lists worktrees
 * meanwhile (another `add`, a `checkout -B`) can die reading a half-written one (seen with git
 * 2.39 at 16 concurrent adds). So where the repository's layout allows, the engine writes the
 * same files itself into a staging directory and renames it into .git/worktrees/ in one step:
 * no reader ever sees a half-made entry, nothing needs serialising, and a worktree costs one
 * git process (the checkout) instead of two, one of them queued behind every other task's.
 * Removal is the reverse rename, out of .git/worktrees/, so it needs no `worktree prune`.
 * Elsewhere `worktree add` and `prune` run serialised, and only the checkout runs in parallel.
 */
export class WorktreeManager {
  private admin: Promise<unknown> = Promise.resolve()
  /** A `worktree prune` queued behind other admin work and not started yet. */
  private queuedPrune: Promise<unknown> | undefined
  private registration: Promise<Registration> | undefined
  /** Worktree path to its admin directory, for worktrees this manager registered directly. */
  private readonly registered = new Map<string, string>()
  /** Removals under way: removeAll() waits for them. */
  private readonly removals = new Set<Promise<void>>()
  /**
   * Checkouts and removals (writing or deleting every file of a worktree) run a few at a time,
   * not all at once: 16 checkouts sharing 2 cores all end together, so every agent would start
   * as late as the last one, and all of them would then finish (and be collected) at the same
   * moment too; 64 concurrent `rm -rf` of large trees slow each other down far more than they
   * gain. A few at a time, the first agents start almost at once and the tasks' file work
   * spreads over the other tasks' agent time.
   */
  private readonly fileWork = createLimiter(FILE_WORK_LANES)
  /** Sparse cones and submodules (repo-features.ts); none by default. */
  private features: RepoFeatures | undefined

  useFeatures(features: RepoFeatures | undefined): void {
    this.features = features
  }

  constructor(
    private readonly git: Git,
    readonly root: string,
    private readonly logger: Logger,
    /** 'git' forces `git worktree add`/`prune` (tests compare both ways). */
    private readonly mode: 'auto' | 'git' = 'auto',
    /** Overlay worktrees, mounted by this mounter; checkouts when unset. */
    overlay?: Mounter
  ) {
    this.layers = overlay ? new OverlayLayers(git, OverlayLayers.dirFor(root), overlay) : undefined
  }

  /** The overlay side (base, layers, mounts) when worktrees are overlays. */
  private readonly layers: OverlayLayers | undefined

  get files(): WorktreeMode {
    return this.layers ? 'overlay' : 'checkout'
  }

  /**
   * Overlay mode: checks out the shared base at `sha` and returns its directory, still writable
   * (the set-up runs there); sealBase() then makes it read-only. Checkout mode: undefined.
   */
  async prepareBase(sha: string): Promise<string | undefined> {
    if (!this.layers) return undefined
    await this.layers.prepare(sha, await this.commonDir())
    return this.layers.baseDir
  }

  /**
   * Overlay mode: where git commands address the shared base (its directory, the repository's
   * git dir, the base's own index), e.g. to list what the set-up left there.
   */
  async baseAt(): Promise<{ cwd: string; env: NodeJS.ProcessEnv } | undefined> {
    if (!this.layers) return undefined
    const { baseDir, baseIndex } = this.layers
    return {
      cwd: baseDir,
      env: { GIT_DIR: await this.commonDir(), GIT_WORK_TREE: baseDir, GIT_INDEX_FILE: baseIndex }
    }
  }

  /** Overlay mode: the base becomes read-only and fingerprinted; worktrees can be made now. */
  async sealBase(): Promise<void> {
    await this.layers?.seal(await this.commonDir())
  }

  /** Paths of the shared base changed since it was sealed (always none in checkout mode). */
  baseChanges(): Promise<string[]> {
    return this.layers?.changes() ?? Promise.resolve([])
  }

  /**
   * Overlay mode: the top-level names under which the worktree can differ from its index, so
   * that `git add --all` need not look at the rest. Whatever a task creates, changes, deletes or
   * renames lands in its upper dir under its top-level name; an agent's own changes to the index
   * (`git rm --cached`) are the index's differences from the base commit. Undefined (look at
   * everything) in checkout mode, or when the upper dir cannot be read.
   */
  async changedScope(wt: Worktree): Promise<string[] | undefined> {
    const sha = this.layers?.sha
    if (!this.layers || !sha) return undefined
    const upper = await readdir(this.layers.upperDir(path.basename(wt.path))).catch(() => undefined)
    if (!upper) return undefined
    const staged = await this.git.out(
      ['diff-index', '--cached', '--name-only', '-z', '--no-renames', sha],
      { cwd: wt.path, env: worktreeEnv(wt) }
    )
    const names = new Set(upper.filter((name) => name !== '.git'))
    for (const p of staged.split('\0').filter(Boolean)) names.add(p.split('/')[0])
    return [...names]
  }

  /**
   * The disk a worktree takes now: in overlay mode only what its task changed (its upper dir),
   * in checkout mode its whole tree. Git's admin files and the shared base are not counted.
   */
  diskUsed(wt: Pick<Worktree, 'path'>): Promise<number> {
    return diskUsage(this.layers ? this.layers.upperDir(path.basename(wt.path)) : wt.path)
  }

  /** Runs fn after every earlier admin operation of this manager has settled. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.admin.then(fn, fn)
    this.admin = run.catch(() => undefined)
    return run
  }

  /** The repository's common git dir (absolute). */
  async commonDir(): Promise<string> {
    return (await this.detect()).commonDir
  }

  pathFor(taskId: string): string {
    return path.join(this.root, taskId)
  }

  /**
   * Whether worktrees can be registered by writing git's files directly: the classic files
   * backend for refs (a reftable repository keeps a worktree's HEAD in reftable), no
   * per-worktree config or sparse-checkout file for git to copy, no relative-path worktrees.
   */
  private detect(): Promise<Registration> {
    this.registration ??= (async (): Promise<Registration> => {
      const [commonDir, settings] = await Promise.all([
        this.git.out(['rev-parse', '--path-format=absolute', '--git-common-dir']),
        this.git.out(
          [
            'config',
            '--get-regexp',
            '^(extensions\\.(worktreeconfig|refstorage|relativeworktrees)|core\\.sparsecheckout|worktree\\.userelativepaths)$'
          ],
          { okExitCodes: [1] }
        )
      ])
      if (this.mode === 'git') return { kind: 'git', commonDir }
      const blocking = settings
        .split('\n')
        .filter(Boolean)
        .filter((line) => !/^\S+ (false|files)$/i.test(line))
      if (blocking.length > 0) {
        this.logger.debug(
          `worktrees via git worktree add (this repository sets ${blocking.join(', ')})`
        )
        return { kind: 'git', commonDir }
      }
      return { kind: 'direct', commonDir }
    })()
    return this.registration
  }

  /** Private scratch space next to .git/worktrees (same filesystem, so renames are atomic). */
  private scratchDir(commonDir: string): string {
    const id = createHash('sha1').update(this.root).digest('hex').slice(0, 12)
    return path.join(commonDir, 'agent-fanout-tmp', id)
  }

  /**
   * Removes what an earlier, crashed run left under the root: registered worktrees (even
   * locked ones, e.g. "initializing" after a SIGKILL), their directories and admin entries.
   * Returns the branches checked out in the repository's other worktrees, and where (read from
   * the same listing, so it costs nothing): the run must not move those.
   */
  async recover(): Promise<Map<string, string>> {
    // Mounts first: deleting through a mounted overlay would write whiteouts, not free space.
    await releaseOverlays(this.root)
    const [entries, registration] = await Promise.all([this.listEntries(), this.detect()])
    const listed = entries.map((e) => e.path)
    const ours = listed.filter((p) => isInside(p, this.root))
    for (const stale of ours) {
      this.logger.info(`Removing stale worktree ${stale} left by an earlier run`)
      await this.forceRemove(stale)
    }
    await rm(this.root, { recursive: true, force: true })
    if (registration.kind === 'direct')
      await rm(this.scratchDir(registration.commonDir), { recursive: true, force: true })
    if (ours.length > 0 || registration.kind === 'git')
      await this.serial(() => this.git.run(['worktree', 'prune']))
    await mkdir(this.root, { recursive: true })
    return new Map(
      entries
        .filter((e) => e.branch && !isInside(e.path, this.root))
        .map((e) => [e.branch!, e.path])
    )
  }

  /**
   * A worktree for one task, on a new (or reset) branch at `startSha`; `branch` undefined gives
   * a detached worktree. It is registered detached; the branch is made by the checkout
   * (`checkout -B`), `--no-track` from a commit id, so no config is written (upstream tracking
   * config is the classic `.git/config.lock` race of parallel adds).
   */
  async create(
    taskId: string,
    branch: string | undefined,
    startSha: string,
    /** A task's `paths:` (narrowing the run's sparse cone). */
    paths?: string[]
  ): Promise<Worktree> {
    const wtPath = this.pathFor(taskId)
    const dirs = this.features?.dirsFor(taskId, paths)
    const registration = await this.detect()
    for (let attempt = 1; ; attempt++) {
      try {
        let dotGit: string
        if (registration.kind === 'direct')
          dotGit = `gitdir: ${await this.register(registration, wtPath, startSha)}\n`
        else {
          await this.serial(() =>
            this.git.run(['worktree', 'add', '--no-checkout', '--detach', wtPath, startSha])
          )
          dotGit = await readFile(path.join(wtPath, '.git'), 'utf8')
        }
        const wt: Worktree = {
          path: wtPath,
          branch: branch ?? '',
          // As git resolves it: relative to the worktree.
          gitDir: path.resolve(wtPath, dotGit.replace(/^gitdir: /, '').trim()),
          commonDir: registration.commonDir,
          dotGit
        }
        await this.fill(wt, registration, branch, startSha, dirs)
        return wt
      } catch (error) {
        const retryable = error instanceof GitError && TRANSIENT_ERROR.test(error.message)
        if (!retryable || attempt >= 6) {
          // A half-made worktree (a full disk stopped its checkout, say) goes now, not at the end.
          await this.remove(wtPath).catch(() => undefined)
          throw error
        }
        this.logger.debug(
          `worktree add for ${taskId} hit a concurrent git (attempt ${attempt}); retrying`
        )
        await this.forceRemove(wtPath)
        await sleep(50 * attempt + Math.floor(Math.random() * 50))
      }
    }
  }

  /**
   * Gives a registered (detached, empty) worktree its files and its branch. A checkout writes
   * them (`checkout -B`, `--no-track` from a commit id: no config written). An overlay is
   * mounted over the directory and needs no checkout at the base: its copied index is valid, so
   * HEAD is only pointed at the branch; at another commit the checkout writes only the files
   * that differ, into the task's upper dir.
   */
  private async fill(
    wt: Worktree,
    registration: Registration,
    branch: string | undefined,
    startSha: string,
    dirs: string[] | undefined
  ): Promise<void> {
    // Sparse cones and submodules (repo-features.ts) around the files themselves.
    Object.assign(
      wt,
      await this.features?.beforeCheckout(wt, this.layers ? 'overlay' : 'checkout', dirs)
    )
    await this.populate(wt, registration, branch, startSha)
    wt.submodules = await this.features?.afterCheckout(wt, startSha)
  }

  /** The worktree's files at startSha: an overlay mount, or a checkout. */
  private async populate(
    wt: Worktree,
    registration: Registration,
    branch: string | undefined,
    startSha: string
  ): Promise<void> {
    const at = { cwd: wt.path, env: worktreeEnv(wt), config: wt.config }
    if (this.layers) {
      await this.layers.mount(path.basename(wt.path), wt.path, wt.gitDir)
      // The .git file written at registration is under the mount now: written again, on top.
      await writeFile(path.join(wt.path, '.git'), wt.dotGit)
      if (startSha === this.layers.sha) {
        if (!branch) return
        await this.git.run(['update-ref', `refs/heads/${branch}`, startSha])
        if (registration.kind === 'direct')
          await writeFile(path.join(wt.gitDir, 'HEAD'), `ref: refs/heads/${branch}\n`)
        else await this.git.run(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], at)
        return
      }
    }
    const checkout = branch
      ? ['checkout', '--quiet', '--force', '--no-track', '-B', branch, startSha]
      : ['reset', '--hard', '--quiet', startSha]
    await this.fileWork(() => this.git.run(checkout, at))
  }

  /**
   * What `git worktree add --no-checkout --detach` writes, written here: the admin directory
   * (gitdir, commondir, HEAD, and `locked` while it is being set up, as git does) is built
   * in scratch space and renamed into .git/worktrees/ complete; then the worktree's .git file
   * points at it. The admin id is the task's slot, with a number added if it is taken.
   */
  private async register(
    registration: { commonDir: string },
    wtPath: string,
    startSha: string
  ): Promise<string> {
    const scratch = this.scratchDir(registration.commonDir)
    const staging = path.join(scratch, `new-${randomBytes(6).toString('hex')}`)
    await mkdir(wtPath, { recursive: false })
    await mkdir(staging, { recursive: true })
    await Promise.all([
      writeFile(path.join(staging, 'gitdir'), `${path.join(wtPath, '.git')}\n`),
      writeFile(path.join(staging, 'commondir'), '../..\n'),
      writeFile(path.join(staging, 'HEAD'), `${startSha}\n`),
      writeFile(path.join(staging, 'locked'), 'initializing\n')
    ])
    const worktreesDir = path.join(registration.commonDir, 'worktrees')
    await mkdir(worktreesDir, { recursive: true })
    const base = path.basename(wtPath)
    for (let n = 0; ; n++) {
      const adminDir = path.join(worktreesDir, n === 0 ? base : `${base}${n}`)
      try {
        await rename(staging, adminDir)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && n < 100) continue
        throw error
      }
      this.registered.set(wtPath, adminDir)
      await writeFile(path.join(wtPath, '.git'), `gitdir: ${adminDir}\n`)
      await rm(path.join(adminDir, 'locked'))
      return adminDir
    }
  }

  /**
   * Removes one of this run's worktrees: git's entry, then its files. A worktree registered
   * here leaves .git/worktrees/ by a rename (so no git process); otherwise removals that finish
   * while a prune is still queued share it: when tasks end together, one prune replaces an
   * unlock and a prune each in the serialised queue. (A worktree someone locked survives the
   * prune; removeAll() unlocks it.) Callers need not wait: removeAll() does.
   */
  remove(...wtPaths: string[]): Promise<void> {
    const removal = this.removeNow(wtPaths)
    this.removals.add(removal)
    const forget = (): boolean => this.removals.delete(removal)
    removal.then(forget, forget)
    return removal
  }

  private async removeNow(wtPaths: string[]): Promise<void> {
    if (this.layers)
      for (const wtPath of wtPaths) await this.layers.unmount(path.basename(wtPath), wtPath)
    const { units, prune } = await this.unregister(wtPaths)
    await this.deleteFiles(units)
    await this.features?.afterRemoval()
    if (prune) await this.prune()
  }

  /**
   * Takes worktrees this manager registered out of .git/worktrees/ (a rename each); returns
   * what is left to delete, one unit per worktree, and whether git still has entries to prune
   * (worktrees git registered, which it forgets once their files are gone).
   */
  private async unregister(wtPaths: string[]): Promise<{ units: string[][]; prune: boolean }> {
    const units: string[][] = []
    let prune = false
    for (const wtPath of wtPaths) {
      const adminDir = this.registered.get(wtPath)
      if (!adminDir) {
        units.push([wtPath])
        prune = true
        continue
      }
      this.registered.delete(wtPath)
      const registration = await this.detect()
      const trash = path.join(
        this.scratchDir(registration.commonDir),
        `old-${randomBytes(6).toString('hex')}`
      )
      try {
        await rename(adminDir, trash)
        units.push([wtPath, trash])
      } catch (error) {
        // An agent unregistered its own worktree (`git worktree remove`/`prune`): nothing to move.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        units.push([wtPath])
      }
    }
    return { units, prune }
  }

  /**
   * Deletes worktrees' directories with as few `rm` processes as the file-work lanes allow: for
   * a small tree, starting a process costs more than the unlinking.
   */
  private async deleteFiles(units: string[][]): Promise<void> {
    const lanes = Array.from(
      { length: Math.min(units.length, FILE_WORK_LANES) },
      () => [] as string[]
    )
    units.forEach((unit, i) => lanes[i % lanes.length].push(...unit))
    await Promise.all(lanes.map((dirs) => this.fileWork(() => removeTree(...dirs))))
  }

  /** A `worktree prune` that starts after this call (shared with calls until it starts). */
  private prune(): Promise<unknown> {
    this.queuedPrune ??= this.serial(() => {
      this.queuedPrune = undefined
      return this.git.run(['worktree', 'prune'], { okExitCodes: [128] })
    })
    return this.queuedPrune
  }

  /**
   * Removes every worktree under the root (this run's, and any an agent added there) and the
   * root itself. Works without this manager's memory too (the post step after a crash).
   */
  async removeAll(): Promise<void> {
    await (
      await this.detachAll()
    ).deleted
  }

  /**
   * removeAll() in two steps: when this resolves, git knows no worktree under the root any
   * more (nor do later runs); `deleted` is the deletion of their files, which may still be under
   * way (a large worktree is many thousands of unlinks). It never rejects: a failure is logged.
   */
  async detachAll(): Promise<{ deleted: Promise<void> }> {
    await Promise.allSettled([...this.removals])
    const { units } = await this.unregister([...this.registered.keys()])
    // Whatever git still lists under the root was not registered here (git's own `worktree add`,
    // or one an agent added): deleted and pruned now, once no overlay is mounted there.
    if ((await this.list()).some((p) => isInside(p, this.root))) await releaseOverlays(this.root)
    const leftovers = (await this.list()).filter((p) => isInside(p, this.root))
    for (const p of leftovers) await this.forceRemove(p)
    const registration = await this.detect()
    const deleted = (async (): Promise<void> => {
      // Every overlay unmounted (this run's, and what a killed run recorded) before any delete.
      await releaseOverlays(this.root)
      await this.deleteFiles(units)
      await rm(this.root, { recursive: true, force: true })
      await this.features?.afterRemoval()
      if (registration.kind === 'direct') {
        const scratch = this.scratchDir(registration.commonDir)
        await rm(scratch, { recursive: true, force: true })
        // Gone too unless another run in this repository is using it.
        await rmdir(path.dirname(scratch)).catch(() => undefined)
      } else await this.serial(() => this.git.run(['worktree', 'prune'], { okExitCodes: [128] }))
    })().catch((error: unknown) =>
      this.logger.warning(`Could not delete the worktrees under ${this.root}: ${String(error)}`)
    )
    return { deleted }
  }

  private async list(): Promise<string[]> {
    return (await this.listEntries()).map((e) => e.path)
  }

  /** `git worktree list --porcelain -z`: each worktree's path and the branch it has checked out. */
  private async listEntries(): Promise<{ path: string; branch?: string }[]> {
    const out = await this.git.out(['worktree', 'list', '--porcelain', '-z'])
    const entries: { path: string; branch?: string }[] = []
    for (const line of out.split('\0')) {
      if (line.startsWith('worktree '))
        entries.push({ path: path.resolve(line.slice('worktree '.length)) })
      else if (line.startsWith('branch refs/heads/') && entries.length)
        entries[entries.length - 1].branch = line.slice('branch refs/heads/'.length)
    }
    return entries
  }

  /** Deletes the files (in parallel with anything), then git's entry for them (serialised). */
  private async forceRemove(wtPath: string): Promise<void> {
    this.registered.delete(wtPath)
    if (this.layers) await this.layers.unmount(path.basename(wtPath), wtPath)
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
async function removeTree(...dirs: string[]): Promise<void> {
  const done = await new Promise<boolean>((resolve) => {
    const child = spawn('rm', ['-rf', '--', ...dirs], { stdio: 'ignore', env: toolEnv() })
    child.once('error', () => resolve(false))
    child.once('close', (code) => resolve(code === 0))
  })
  if (!done) for (const dir of dirs) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child))
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}
