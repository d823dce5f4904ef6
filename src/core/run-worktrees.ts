import path from 'node:path'
import type { Git, Identity } from './git/git.js'
import { chooseWorktreeMode, WORKTREE_MODES, type WorktreeModeOption } from './git/worktree-mode.js'
import { WorktreeManager, worktreeEnv, type Worktree } from './git/worktrees.js'
import {
  NO_SETUP_PATHS,
  recordSetupPaths,
  runSetup,
  SetupError,
  setupExcludes,
  type SetupPaths
} from './setup.js'
import type { Logger, TaskResult } from './types.js'

/**
 * Replaces the default worktree-mode (`auto`) when set: the test suite runs everything that
 * leaves worktree-mode at its default in checkout worktrees (`npm run test:checkout`) or in
 * overlays (`npm run test:overlay`, which then fails where overlays cannot be mounted).
 * `checkout` and `overlay` asked for by name are kept; a run that needs checkouts (sparse,
 * `paths:`) gets them, as with `auto`. Not meant for workflows.
 */
export const FORCE_MODE_VARIABLE = 'AGENT_FANOUT_WORKTREE_MODE'
export const DEFAULT_WORKTREE_MODE: WorktreeModeOption = 'auto'

function forcedMode(): WorktreeModeOption | undefined {
  const value = process.env[FORCE_MODE_VARIABLE]?.trim()
  if (!value) return undefined
  if (!(WORKTREE_MODES as readonly string[]).includes(value))
    throw new Error(
      `${FORCE_MODE_VARIABLE} must be one of ${WORKTREE_MODES.join(', ')}, got "${value}"`
    )
  return value as WorktreeModeOption
}

/** The setup-command and what it runs with (the agents' environment rules). */
export interface SetupOptions {
  command: string
  timeoutMs: number
  killGraceMs?: number
  baseEnv: NodeJS.ProcessEnv
  secrets: string[]
  identity: Identity
  /** Unique per run: the set-up's processes carry it (see run-agent.ts). */
  markerValue: string
  logDir: string
  signal?: AbortSignal
}

/**
 * A run's worktrees as the stages use them: the mode chosen (worktree-mode), the shared base
 * of overlay worktrees prepared and set up once, the set-up run in each checkout worktree
 * otherwise, what the set-up left kept out of task commits, the base guarded, and each
 * worktree's disk use measured.
 */
export class RunWorktrees {
  private shared: SetupPaths | undefined
  private readonly perWorktree = new Map<string, SetupPaths>()
  /** Checkout mode: the first worktree's set-up, which every other worktree waits for. */
  private firstSetup: Promise<void> | undefined
  /** Bytes each slot's worktree took when its agent was done. */
  private readonly disk = new Map<string, number>()

  private constructor(
    readonly manager: WorktreeManager,
    private readonly git: Git,
    private readonly logger: Logger,
    private readonly setup: SetupOptions | undefined
  ) {}

  /**
   * Chooses the mode (the log says which and why) and makes the manager; throws when overlay
   * was asked for and cannot be had. `notForOverlay`: a reason this run needs checkouts.
   */
  static async open(options: {
    git: Git
    logger: Logger
    root: string
    mode: WorktreeModeOption
    setup?: SetupOptions
    notForOverlay?: string
  }): Promise<RunWorktrees> {
    const forced = options.mode === DEFAULT_WORKTREE_MODE ? forcedMode() : undefined
    const chosen = await chooseWorktreeMode(
      // Forced overlays give way where the run needs checkouts, as the default would.
      forced === 'overlay' && options.notForOverlay ? 'auto' : (forced ?? options.mode),
      path.dirname(options.root),
      options.notForOverlay
    )
    options.logger.info(
      `Worktrees: ${chosen.why}${forced ? ` (the default set to ${forced} by ${FORCE_MODE_VARIABLE})` : ''}`
    )
    const manager = new WorktreeManager(
      options.git,
      options.root,
      options.logger,
      'auto',
      chosen.mounter
    )
    return new RunWorktrees(manager, options.git, options.logger, options.setup)
  }

  /**
   * Before any worktree, after recover(): in overlay mode the shared base is checked out at
   * `baseSha`, set up once and sealed read-only. Returns the set-up's failure (no agent may then
   * start), undefined when it succeeded or there is none here.
   */
  async prepare(baseSha: string): Promise<SetupError | undefined> {
    const base = await this.manager.prepareBase(baseSha)
    if (base && this.setup) {
      try {
        await this.runSetup(base, 'setup')
      } catch (error) {
        if (error instanceof SetupError) return error
        throw error
      }
      this.shared = await recordSetupPaths(this.git, (await this.manager.baseAt())!)
      this.logSetupPaths(this.shared)
    }
    await this.manager.sealBase()
    return undefined
  }

  /**
   * A new worktree, before its agent: in checkout mode it gets its own set-up. The first one
   * runs alone and every other worktree waits for it, so a set-up that fails fails before any
   * agent starts (SetupError); a later one that fails throws for its task only.
   */
  async ready(wt: Worktree, slot: string): Promise<void> {
    if (!this.setup || this.manager.files === 'overlay') return
    const own = async (): Promise<void> => {
      await this.runSetup(wt.path, `setup-${slot}`)
      const paths = await recordSetupPaths(this.git, { cwd: wt.path, env: worktreeEnv(wt) })
      this.perWorktree.set(wt.path, paths)
    }
    if (!this.firstSetup) {
      this.firstSetup = own()
      return this.firstSetup
    }
    await this.firstSetup
    await own()
  }

  /** Pathspecs keeping what the set-up left out of this worktree's commit (collect.ts). */
  excludes = (wt: Worktree): Promise<string[]> => {
    const paths = this.shared ?? this.perWorktree.get(wt.path) ?? NO_SETUP_PATHS
    return setupExcludes(this.git, { cwd: wt.path, env: worktreeEnv(wt) }, paths)
  }

  /** Where a worktree can have changes, for its `git add` (overlay worktrees know it). */
  scope = (wt: Worktree): Promise<string[] | undefined> => this.manager.changedScope(wt)

  /**
   * Before merging: a warning naming what changed in the shared base since it was sealed, or
   * undefined. A changed base shows in every task's worktree, so no task's work can be trusted.
   */
  async baseChanged(): Promise<string | undefined> {
    const changed = await this.manager.baseChanges()
    if (changed.length === 0) return undefined
    const shown = changed.slice(0, 10).join(', ')
    return `The shared base checkout of the overlay worktrees was changed while agents ran (${shown}${changed.length > 10 ? `, and ${changed.length - 10} more` : ''}): every task saw that change, so none is merged; their branches keep their work.`
  }

  /** Measures the disk a task's worktree took (before it is removed), for its result. */
  async measure(wt: Worktree, slot: string): Promise<void> {
    this.disk.set(slot, await this.manager.diskUsed(wt))
  }

  /** A task's result with the disk its worktree took, when that was measured. */
  withDisk(result: TaskResult): TaskResult {
    const bytes = this.disk.get(result.id)
    return bytes === undefined ? result : { ...result, diskBytes: bytes }
  }

  private async runSetup(cwd: string, name: string): Promise<void> {
    const setup = this.setup!
    this.logger.info(`Running the setup-command in ${cwd}`)
    const run = await runSetup({
      command: setup.command,
      cwd,
      baseEnv: setup.baseEnv,
      secrets: setup.secrets,
      identity: setup.identity,
      marker: { name: 'AGENT_FANOUT_MARKER', value: `${setup.markerValue}-${name}` },
      logFile: path.join(setup.logDir, `${name}.log`),
      timeoutMs: setup.timeoutMs,
      killGraceMs: setup.killGraceMs,
      onLine: (line) => this.logger.info(`[${name}] ${line}`),
      signal: setup.signal
    })
    this.logger.info(`The setup-command took ${(run.durationMs / 1000).toFixed(1)} s`)
  }

  private logSetupPaths(paths: SetupPaths): void {
    const all = [...paths.dirs, ...paths.files.map((f) => f.path)]
    if (all.length > 0)
      this.logger.info(
        `Left out of task commits unless a task changes them (made by the setup-command): ${all.slice(0, 20).join(', ')}${all.length > 20 ? ', …' : ''}`
      )
  }
}

export { SetupError }
