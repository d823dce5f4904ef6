import { randomBytes } from 'node:crypto'
import { mkdir, realpath } from 'node:fs/promises'
import path from 'node:path'
import { integrationBranchName, taskBranchName, validateBranchPrefix } from '../branches.js'
import { refuseCheckedOut } from '../git/checked-out.js'
import type { RunContext } from '../git/collect.js'
import { assertGitVersion, type Git } from '../git/git.js'
import { SharedGitGuard } from '../git/guard.js'
import { ObjectStoreGuard } from '../git/precious.js'
import { RepoFeatures } from '../git/repo-features.js'
import type { WorktreeManager } from '../git/worktrees.js'
import { refuseLocalBranchClashes } from '../preflight.js'
import { DEFAULT_WORKTREE_MODE, RunWorktrees } from '../run-worktrees.js'
import type { Logger } from '../types.js'
import type { EngineOptions } from './options.js'
import type { RunPlan } from './plan.js'

/**
 * What every stage of one run shares: the options, git, the run's private directories and
 * worktrees, its warnings, and the guards that watch the shared .git while agents run.
 */
export interface Workspace {
  options: EngineOptions
  git: Git
  logger: Logger
  integrationBranch: string
  dirs: { root: string; prompts: string; logs: string }
  worktrees: WorktreeManager
  /** The worktrees' mode, shared base, set-up and disk figures (run-worktrees.ts). */
  files: RunWorktrees
  runContext: RunContext
  branchOf(task: { id: string }): string
  /** The marker env var that finds a slot's processes (and its daemons) again. */
  marker(slot: string): { name: string; value: string }
  /** Things that went wrong around the tasks, for the result (each also logged). */
  warnings: string[]
  warn(message: string): void
  /** Puts back shared .git config and hooks an agent changed, and records that it happened. */
  checkSharedGit(after: string): Promise<void>
  /** Takes back the object store's protection (see precious.ts); the clean stage calls it. */
  releaseObjects(): Promise<void>
}

/**
 * Everything before the first agent: git and the prefix checked, no branch of the run in the
 * way or checked out elsewhere, a crashed run's leftovers recovered, the shared .git guarded,
 * and the branches of reused or merged work pointed at it.
 */
export async function prepare(options: EngineOptions, plan: RunPlan): Promise<Workspace> {
  const { git, logger } = options
  await Promise.all([assertGitVersion(git), validateBranchPrefix(git, options.branchPrefix)])
  const integrationBranch = integrationBranchName(options.branchPrefix)
  await mkdir(options.workDir, { recursive: true })
  const root = await realpath(options.workDir)
  const dirs = { root, prompts: path.join(root, 'prompts'), logs: path.join(root, 'logs') }
  await mkdir(dirs.prompts, { recursive: true })
  await mkdir(dirs.logs, { recursive: true })
  const runId = randomBytes(6).toString('hex')
  const files = await RunWorktrees.open({
    git,
    logger,
    root: path.join(root, 'worktrees'),
    mode: options.worktreeMode ?? DEFAULT_WORKTREE_MODE,
    // An overlay shows the whole shared base: a sparse cone needs a checkout of its own.
    notForOverlay:
      options.sparseCheckout?.length || options.tasks.some((t) => !t.checked && t.paths?.length)
        ? 'sparse-checkout and paths: need a checkout per worktree'
        : undefined,
    setup: options.setupCommand
      ? {
          command: options.setupCommand,
          timeoutMs: options.taskTimeoutMs,
          killGraceMs: options.killGraceMs,
          baseEnv: options.agentBaseEnv,
          secrets: options.secrets,
          identity: options.identity,
          markerValue: runId,
          logDir: dirs.logs,
          signal: options.signal
        }
      : undefined
  })
  const worktrees = files.manager
  const branches = [...(options.agentsOnly ? [] : [integrationBranch]), ...plan.branches]

  // A branch in the way of one the run needs (`<prefix>` blocks `<prefix>/T1`): refused now.
  await refuseLocalBranchClashes(git, branches)

  // The object store keeps every object while agents run (see precious.ts); leftovers of a
  // crashed run go first; then the shared .git as it is before any agent.
  const protecting = worktrees
    .commonDir()
    .then((dir) => ObjectStoreGuard.protect(git, dir, runId, logger))
  const [checkedOut, guard, objects, features] = await Promise.all([
    worktrees.recover(),
    protecting.then(() => SharedGitGuard.snapshot(git)),
    protecting,
    // Sparse cones and submodules in the worktrees (git/repo-features.ts).
    worktrees
      .commonDir()
      .then((dir) =>
        RepoFeatures.detect(git, dir, options.baseSha, logger, { sparse: options.sparseCheckout })
      )
  ])
  try {
    refuseCheckedOut(branches, checkedOut)
    // A task's paths: outside the sparse-checkout input is refused before any agent starts.
    for (const task of options.tasks.filter((t) => !t.checked))
      features.dirsFor(task.id, task.paths)
    worktrees.useFeatures(features)
  } catch (error) {
    await objects.release()
    throw error
  }
  const warnings: string[] = []
  const warn = (message: string): void => {
    warnings.push(message)
    logger.warning(message)
  }
  const ws: Workspace = {
    options,
    git,
    logger,
    integrationBranch,
    dirs,
    worktrees,
    files,
    runContext: {
      issueNumber: options.issue.number,
      baseBranch: options.baseBranch,
      branchPrefix: options.branchPrefix,
      checkedOut,
      keepDir: path.join(root, 'kept'),
      excludes: options.agentPreset?.excludes ?? [],
      setupExcludes: files.excludes,
      scope: files.scope,
      remoteAuth: options.remoteAuth
    },
    branchOf: (task) => taskBranchName(options.branchPrefix, task.id),
    marker: (slot) => ({ name: 'AGENT_FANOUT_MARKER', value: `${runId}-${slot}` }),
    warnings,
    warn,
    checkSharedGit: async (after) => {
      const changes = await guard.restore()
      if (changes.length === 0) return
      warn(
        `The shared .git was changed while agents ran (noticed after ${after}): ${changes.join(', ')}. It was restored; the action's own git commands never run hooks.`
      )
    },
    releaseObjects: () => objects.release()
  }
  for (const [id, work] of plan.produced)
    await git.run(['update-ref', `refs/heads/${ws.branchOf({ id })}`, work.tip])
  return ws
}
