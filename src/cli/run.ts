import { taskBranchStates } from '../action/keep.js'
import { prepareLfs } from '../core/git/lfs.js'
import { followDependencies } from '../core/run/dependency-plan.js'
import { createHash } from 'node:crypto'
import { readFile, realpath } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { planTasks, stateFromResult, type Command, type RunState } from '../action/state.js'
import type { AgentPreset } from '../core/agents/presets/index.js'
import {
  defaultBranchPrefix,
  integrationBranchName,
  taskBranchName,
  validateBranchPrefix
} from '../core/branches.js'
import { runFanout, type TaskPlan } from '../core/engine.js'
import type { RunWatcher } from '../core/events.js'
import { baseBranchName, localBranchTip } from '../core/git/base-branch.js'
import { Git, type Identity } from '../core/git/git.js'
import type { Options } from '../core/options.js'
import { keepPeoplesWork, MAX_RECORDED_PEOPLE, type KeepDecision } from '../core/people.js'
import { parseTaskList, TASK_SYNTAX_HELP } from '../core/tasks/parse.js'
import type { FanoutResult, Logger, Task } from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { readLocalState, writeLocalState } from './record.js'
import { gitHubSource, resolveReferences } from './references.js'

/** The run options the CLI shares with the action (core/options.ts). */
export type RunOptionValues = Pick<
  Options,
  | 'max-parallel'
  | 'max-tasks'
  | 'task-timeout-minutes'
  | 'timeout-minutes'
  | 'conflict-strategy'
  | 'max-reruns'
  | 'resolve-command'
  | 'verify-command'
  | 'verify'
  | 'branch-prefix'
  | 'base-branch'
  | 'commit-author'
  | 'worktree-mode'
  | 'setup-command'
  | 'sparse-checkout'
  | 'max-attempts'
  | 'start-interval-seconds'
  | 'max-cost-usd'
>

export interface LocalRunOptions {
  repoDir: string
  issueFile: string
  /** run, or retry/drop of named tasks (as the action's /fanout commands). */
  command?: Command
  agentCommand: string
  /** The known CLI behind agentCommand (--agent-preset). */
  agentPreset?: AgentPreset
  issueNumber: number
  /** Shared options; unset ones take the action's defaults. */
  options?: Partial<RunOptionValues>
  workDir?: string
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Aborting it ends every agent and reports what finished. */
  signal?: AbortSignal
  /** Told what happens while the run goes (progress). */
  watch?: RunWatcher
  /** --github-repo: where `- [ ] #123` items are read from (default: origin's, if on GitHub). */
  githubRepo?: string
  /** Says what the user should know before agents start (a dirty tree, unresolved items). */
  warn?: (message: string) => void
}

export interface LocalRunResult extends FanoutResult {
  /** False when the integration branch changed during the run: it was left as it was. */
  integrationUpdated: boolean
  /** False when another run recorded its state meanwhile: this one's was not written over it. */
  stateRecorded: boolean
}

/**
 * The engine on a local repository: branches are created locally, nothing is pushed. Like the
 * action's reruns, a run of an issue that ran before reuses the tasks that merged (same text,
 * branch where it was left), keeps commits people made on its branches (core/people.ts), and
 * records what it did (record.ts) for the next one.
 */
export async function runLocal(o: LocalRunOptions): Promise<LocalRunResult> {
  const opts = o.options ?? {}
  const command: Command = o.command ?? { kind: 'run' }
  const markdown = await readFile(o.issueFile, 'utf8').catch((error: unknown) => {
    throw new UserError(`cannot read --issue-file ${o.issueFile}: ${errorMessage(error)}`)
  })
  const tasks = parseTaskList(markdown).tasks
  const open = tasks.filter((t) => !t.checked)
  if (open.length === 0)
    throw new UserError(`no open tasks in ${o.issueFile}.\n\n${TASK_SYNTAX_HELP}`)
  const maxTasks = opts['max-tasks'] ?? 20
  if (open.length > maxTasks)
    throw new UserError(
      `${o.issueFile} lists ${open.length} open tasks, more than --max-tasks (${maxTasks}); nothing was started`
    )
  refuseUnknownIds(command, tasks)
  const git = await openRepository(o.repoDir, opts['commit-author'], o.env)
  const { baseBranch, baseSha } = await resolveBase(git, o.repoDir, opts['base-branch'])
  await warnIfDirty(git, baseBranch, baseSha, o.warn)
  const github = await gitHubSource(git, o.githubRepo, o.env ?? process.env)
  const unresolved = await resolveReferences(tasks, github, o.logger)
  for (const u of unresolved) o.warn?.(u.message)
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1]?.trim() ?? path.basename(o.issueFile)
  const branchPrefix = opts['branch-prefix'] ?? defaultBranchPrefix(o.issueNumber)
  await validateBranchPrefix(git, branchPrefix).catch((error: unknown) => {
    throw new UserError(errorMessage(error).replace('Input branch-prefix', '--branch-prefix'))
  })

  const stored = await readLocalState(git, branchPrefix)
  const previous = stored?.state
  const tips = await localTips(git, branchPrefix)
  const planned = planTasks(tasks, previous, tips, command)
  for (const u of unresolved)
    planned.plan.set(u.task.id, {
      mode: 'keep',
      result: {
        id: u.task.id,
        title: u.task.title,
        status: 'skipped',
        branch: taskBranchName(branchPrefix, u.task.id),
        changedFiles: [],
        durationMs: 0,
        reason: u.message
      }
    })
  localWording(planned.plan)
  const keep = await keepLocalWork(git, {
    issueNumber: o.issueNumber,
    tasks,
    base: { branch: baseBranch, sha: baseSha },
    branchPrefix,
    previous,
    tips,
    plan: planned.plan,
    command
  })
  for (const note of keep.notes) o.logger.info(note)
  // Reruns follow dependencies, as the action's do (core/run/dependency-plan.ts).
  for (const f of followDependencies(tasks, keep.plan))
    o.logger.info(`${f.id} ${f.mode === 'run' ? 'runs again' : 'is dropped too'}: ${f.because}`)

  // Git LFS content in the worktrees, from this repository's store (git/lfs.ts).
  await prepareLfs(git, undefined, baseSha, {}, o.logger)
  const workDir = path.resolve(o.workDir ?? (await defaultWorkDir(o.repoDir, o.issueNumber)))
  const deadline = runDeadline(o.signal, opts['timeout-minutes'])
  let result: FanoutResult
  try {
    result = await runFanout({
      git,
      logger: o.logger,
      issue: { number: o.issueNumber, title },
      tasks,
      plan: keep.plan,
      baseBranch,
      baseSha,
      integrationStart: keep.start,
      integrationSeen: tips.get(integrationBranchName(branchPrefix)) ?? '',
      agentCommand: o.agentCommand,
      agentPreset: o.agentPreset,
      maxParallel: opts['max-parallel'] ?? 4,
      taskTimeoutMs: opts['task-timeout-minutes'] ?? 30 * 60_000,
      conflictStrategies: opts['conflict-strategy'],
      maxReruns: opts['max-reruns'],
      resolveCommand: opts['resolve-command'],
      verify: opts['verify-command']
        ? { command: opts['verify-command'], mode: opts.verify ?? 'final' }
        : undefined,
      branchPrefix,
      workDir,
      identity: git.identity,
      agentBaseEnv: o.env ?? process.env,
      secrets: github ? [github.token] : [],
      signal: deadline.signal,
      watch: o.watch,
      worktreeMode: opts['worktree-mode'],
      setupCommand: opts['setup-command'],
      sparseCheckout: opts['sparse-checkout'],
      maxAttempts: opts['max-attempts'],
      startIntervalMs: opts['start-interval-seconds'],
      maxCostUsd: opts['max-cost-usd']
    })
  } finally {
    deadline.dispose()
  }
  if (keep.notes.length > 0) result.warnings = [...keep.notes, ...(result.warnings ?? [])]

  const now = await git.out(
    ['rev-parse', '-q', '--verify', `refs/heads/${result.integrationBranch}`],
    { okExitCodes: [1] }
  )
  // When someone committed on the branch meanwhile, it was left as it was: the record keeps
  // what it said about it, so the next run finds those commits as commits by people.
  const integrationUpdated = now === result.integrationSha
  const state: RunState = {
    ...stateFromResult(result, tasks, planned.dropped),
    ...(integrationUpdated
      ? { integration: { sha: now, people: keep.people.slice(0, MAX_RECORDED_PEOPLE) } }
      : previous?.integration
        ? { integration: previous.integration }
        : {})
  }
  const stateRecorded = await writeLocalState(
    git,
    branchPrefix,
    state,
    { workDir },
    stored?.ref ?? ''
  )
  if (!stateRecorded)
    result.warnings = [
      ...(result.warnings ?? []),
      `Another run of ${branchPrefix} recorded its result while this one ran; this run's was not written over it, so the next run goes on from that one.`
    ]
  return { ...result, integrationUpdated, stateRecorded }
}

/** A retry or drop naming a task the list does not have is a usage error, before anything runs. */
function refuseUnknownIds(command: Command, tasks: Task[]): void {
  if (!('ids' in command)) return
  const known = new Set(tasks.map((t) => t.id.toLowerCase()))
  const unknown = command.ids.filter((id) => !known.has(id.toLowerCase()))
  if (unknown.length)
    throw new UserError(
      `no task ${unknown.join(', ')} in the issue file (its tasks: ${tasks.map((t) => t.id).join(', ')})`
    )
}

/** The action's "comment /fanout run" becomes what a local user types. */
function localWording(plan: Map<string, TaskPlan>): void {
  for (const p of plan.values())
    if (p.mode === 'keep' && p.result.reason?.startsWith('not run yet'))
      p.result = { ...p.result, reason: 'not run yet: agent-fanout run runs it' }
}

/** The repository, as a Git that commits as `author` (else its user.name/email). */
export async function openRepository(
  repoDir: string,
  author: Identity | undefined,
  env: NodeJS.ProcessEnv | undefined
): Promise<Git & { identity: Identity }> {
  const probe = new Git(repoDir, { env })
  const inside = await probe
    .run(['rev-parse', '--is-inside-work-tree'], { okExitCodes: [128] })
    .catch((error: unknown) => {
      throw new UserError(`--repo ${repoDir}: ${errorMessage(error)}`)
    })
  if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true')
    throw new UserError(
      `--repo ${repoDir} is not a git repository (or is a bare one): ${inside.stderr.trim().split('\n')[0] || 'no work tree'}`
    )
  const identity = author ?? (await localIdentity(probe))
  return Object.assign(new Git(repoDir, { identity, env }), { identity })
}

async function localIdentity(git: Git): Promise<Identity> {
  const name = await git.out(['config', 'user.name']).catch(() => '')
  const email = await git.out(['config', 'user.email']).catch(() => '')
  return { name: name || 'agent-fanout', email: email || 'agent-fanout@localhost' }
}

/**
 * The branch tasks start from: --base-branch, or the branch checked out (a detached HEAD: its
 * commit). A name is looked up as a branch only (refs/heads/), never as a tag of the same name.
 */
export async function resolveBase(
  git: Git,
  repoDir: string,
  given: string | undefined
): Promise<{ baseBranch: string; baseSha: string }> {
  // The full name: `--short` says `heads/x` when a tag x exists too.
  const head = await git.run(['symbolic-ref', '-q', 'HEAD'], { okExitCodes: [1, 128] })
  const name = given ?? head.stdout.trim()
  if (!name) {
    const sha = await git.run(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], {
      okExitCodes: [1, 128]
    })
    if (sha.exitCode !== 0)
      throw new UserError(`${repoDir} has no commit yet: commit something first`)
    return { baseBranch: 'HEAD', baseSha: sha.stdout.trim() }
  }
  const what = given ? '--base-branch' : 'the branch checked out'
  const baseBranch = await baseBranchName(git, name, what)
  return { baseBranch, baseSha: await localBranchTip(git, baseBranch, { what, where: repoDir }) }
}

/**
 * Agents start from the committed base, not from the files on disk: changes not committed yet
 * on that branch are not in their worktrees, which surprises people who just edited something.
 */
async function warnIfDirty(
  git: Git,
  baseBranch: string,
  baseSha: string,
  warn: ((message: string) => void) | undefined
): Promise<void> {
  if (!warn) return
  const head = await git.out(['rev-parse', '-q', '--verify', 'HEAD'], { okExitCodes: [1] })
  if (head !== baseSha) return
  const changes = await git.out(['status', '--porcelain', '--untracked-files=normal'])
  if (!changes) return
  const n = changes.split('\n').length
  warn(
    `the working tree has ${n} uncommitted change${n === 1 ? '' : 's'}: agents start from the committed ${baseBranch === 'HEAD' ? 'HEAD' : baseBranch} (${baseSha.slice(0, 12)}), without them; commit first to give them to the agents`
  )
}

/** Local branches under the prefix, by name. */
export async function localTips(git: Git, prefix: string): Promise<Map<string, string>> {
  const refs = await git.out([
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `refs/heads/${prefix}/`
  ])
  return new Map(
    refs
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const space = line.indexOf(' ')
        return [line.slice(space + 1).replace(/^refs\/heads\//, ''), line.slice(0, space)] as const
      })
  )
}

/**
 * Where the local integration branch starts and what runs, so that commits people made on the
 * CLI's branches are kept (core/people.ts): as the action's keep.ts, on local branches.
 */
async function keepLocalWork(
  git: Git,
  o: {
    issueNumber: number
    tasks: Task[]
    base: { branch: string; sha: string }
    branchPrefix: string
    previous: RunState | undefined
    tips: Map<string, string>
    plan: Map<string, TaskPlan>
    command: Command
  }
): Promise<KeepDecision> {
  const states = taskBranchStates(o.tasks, o.branchPrefix, o.previous, o.tips, o.plan, o.command)
  const integrationBranch = integrationBranchName(o.branchPrefix)
  // CannotKeepError (people's commits cannot be kept) stops the run before anything starts:
  // exit 1, as a run that cannot go on, not a usage error.
  return keepPeoplesWork(git, {
    issueNumber: o.issueNumber,
    baseBranch: o.base.branch,
    baseSha: o.base.sha,
    integrationBranch,
    integrationTip: o.tips.get(integrationBranch),
    record: o.previous?.integration,
    tasks: states,
    plan: o.plan
  })
}

/** The run's signal: the interrupts', and --timeout-minutes' deadline (reason 'deadline'). */
function runDeadline(
  signal: AbortSignal | undefined,
  deadlineMs: number | undefined
): { signal: AbortSignal | undefined; dispose(): void } {
  if (!deadlineMs) return { signal, dispose: () => undefined }
  const abort = new AbortController()
  const onAbort = (): void => abort.abort(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  if (signal?.aborted) onAbort()
  const timer = setTimeout(() => abort.abort('deadline'), deadlineMs)
  timer.unref()
  return {
    signal: abort.signal,
    dispose: () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }
}

/**
 * Where a run's worktrees and logs go unless --work-dir says: one folder per repository (its
 * real path, hashed: two repositories in folders of the same name must not share it, since a
 * run's recovery removes the worktrees it finds there) and issue number.
 */
export async function defaultWorkDir(repoDir: string, issueNumber: number): Promise<string> {
  const real = await realpath(repoDir).catch(() => path.resolve(repoDir))
  const id = createHash('sha256').update(real).digest('hex').slice(0, 10)
  return path.join(os.tmpdir(), 'agent-fanout', `${path.basename(real)}-${id}-issue-${issueNumber}`)
}
