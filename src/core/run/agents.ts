import { FifoPool } from '../agents/fifos.js'
import { AgentStarts } from '../agents/starts.js'
import { renderPrompt } from '../agents/prompt.js'
import { fitOnDisk } from '../disk.js'
import { SetupError, setupFailed } from '../setup.js'
import { emit } from '../events.js'
import type { Task, TaskResult } from '../types.js'
import { errorMessage } from '../util/errors.js'
import { agentStarter, failure, type AgentStarter } from './agent.js'
import { runAttempts, type Attempt } from './attempts.js'
import { collectTask } from './collect.js'
import { worktreeRemoved } from '../git/collect.js'
import type { Worktree } from '../git/worktrees.js'
import { scheduleAgents } from './dependents.js'
import { judge } from './judge.js'
import type { Workspace } from './prepare.js'
import { Slots } from './slots.js'
import { describe, failedResult, type Produced } from './task-result.js'

/** What the agent stage works with; the integrate stage borrows the slots and the starter. */
export interface AgentStage {
  ws: Workspace
  maxParallel: number
  slots: Slots
  start: AgentStarter
  /** Pacing, the cost cap, result files and retries of every agent start (agents/starts.ts). */
  starts: AgentStarts
  fifos: FifoPool
  /** Whether a task's worktree must be gone before its slot is free (more tasks than slots). */
  waitForRemoval: boolean
  /** The setup-command failed before any agent: every task fails with its reason and tail. */
  setupFailure?: SetupError
  /** Where a task that builds on others starts (run/dependents.ts); the rest start at the base. */
  startCommits: Map<string, string>
}

/** Work an agent committed; judged as soon as its agent is done (judge.ts). */
export interface Committed {
  task: Task
  tip: string
  /** The commit it started from: its work is what it adds to that. */
  startSha: string
  /** Its result so far: log, exit code, timing (status and files come from the judge). */
  partial: Omit<TaskResult, 'status' | 'changedFiles'>
}

/**
 * How one task left the agent stage: a result (with the work to merge, once judged), or, inside
 * runTask, committed work still to judge.
 */
export type TaskOutcome =
  | { kind: 'result'; result: TaskResult; produced?: Produced }
  | { kind: 'committed'; work: Committed }

/** Slots for `count` agents: as many at once as fit on the disk (disk.ts), and their FIFOs. */
export async function openAgentStage(ws: Workspace, count: number): Promise<AgentStage> {
  // As many worktrees at once as fit on the disk where they go, or none started (disk.ts).
  const maxParallel = await fitOnDisk(
    ws.git,
    ws.options,
    ws.worktrees.root,
    count,
    ws.warn,
    ws.worktrees.files
  )
  // Overlay worktrees: the shared base checked out and set up once (run-worktrees.ts).
  const setupFailure = await ws.files.prepare(ws.options.baseSha)
  // Every agent's output FIFOs in one process, made while the first worktrees are checked out.
  const fifos = new FifoPool(ws.dirs.logs)
  void fifos.fill(count)
  const { options } = ws
  const starts = new AgentStarts({
    workDir: ws.dirs.root,
    preset: options.agentPreset,
    maxAttempts: options.maxAttempts,
    startIntervalMs: options.startIntervalMs,
    maxCostUsd: options.maxCostUsd,
    retryDelay: options.retryDelay,
    logger: ws.logger,
    signal: options.signal
  })
  return {
    ws,
    maxParallel,
    slots: new Slots(ws.files),
    start: agentStarter(ws, fifos, starts),
    starts,
    fifos,
    // Wait for the removal only where another task will need the slot (see Slots).
    waitForRemoval: count > maxParallel,
    setupFailure,
    startCommits: new Map()
  }
}

/**
 * The scheduler (dependents.ts): every task through runTask once the tasks it builds on are
 * done, at most max-parallel at once, in list order. Outcomes come back in the order of `tasks`.
 */
export async function runAgents(tasks: Task[], stage: AgentStage): Promise<TaskOutcome[]> {
  return stage.ws.logger.group(
    `Run ${tasks.length} agent(s), at most ${stage.maxParallel} at once`,
    () => scheduleAgents(tasks, stage, runTask)
  )
}

/**
 * One task through the agent stage (the place for attempts): never throws; a result that is
 * final for this stage is told to the watcher at once ('finished').
 */
export async function runTask(task: Task, stage: AgentStage): Promise<TaskOutcome> {
  const { ws } = stage
  let outcome: TaskOutcome
  try {
    // Attempts after transient failures, each in a fresh worktree (run/attempts.ts).
    outcome = await runAttempts(task, ws.branchOf(task), stage.starts, ws.warn, (attempt) =>
      attemptTask(task, stage, attempt)
    )
  } catch (error) {
    // A broken worktree or git failure ends this task, not the others.
    ws.logger.warning(`[${task.id}] ${errorMessage(error)}`)
    // A set-up that failed in its worktree (checkout mode) leaves nothing on its branch.
    if (error instanceof SetupError)
      await ws.git.run(['update-ref', '-d', `refs/heads/${ws.branchOf(task)}`])
    outcome = {
      kind: 'result',
      result:
        error instanceof SetupError
          ? failedResult(task, ws.branchOf(task), error.message, setupFailed(error))
          : failedResult(task, ws.branchOf(task), `could not run the task: ${errorMessage(error)}`)
    }
  }
  // Judged now: the result is known the moment the agent ends, and dependents build on it.
  if (outcome.kind === 'committed') outcome = await judgeCommitted(ws, outcome.work)
  emit(ws.options.watch, ws.logger, {
    kind: 'finished',
    at: Date.now(),
    result: { ...outcome.result }
  })
  return outcome
}

async function judgeCommitted(
  ws: AgentStage['ws'],
  work: Committed
): Promise<Extract<TaskOutcome, { kind: 'result' }>> {
  try {
    const judged = await judge(ws, [work])
    const produced = judged.produced.get(work.task.id)
    const result = judged.results.get(work.task.id)!
    return { kind: 'result', result, ...(produced ? { produced } : {}) }
  } catch (error) {
    ws.logger.warning(`[${work.task.id}] ${errorMessage(error)}`)
    const reason = `its work could not be judged: ${errorMessage(error)}`
    return { kind: 'result', result: failedResult(work.task, work.partial.branch, reason) }
  }
}

/** One attempt of one task, as its steps share it (attemptTask, inWorktree, afterAgent). */
interface AttemptState {
  task: Task
  stage: AgentStage
  attempt: number
  branch: string
  /** Where the task starts: the merge of the tasks it builds on, or the base (dependents.ts). */
  startSha: string
  startedAt: number
  /** Its branch holds work worth keeping although it failed (collect saved it). */
  kept: boolean
  /** Work committed in its worktree: stays its result if only the worktree's removal fails. */
  committed?: Committed
}

/** One start of a task's agent in a fresh worktree at the base: run it, commit what it left. */
export async function attemptTask(
  task: Task,
  stage: AgentStage,
  attempt: number
): Promise<Attempt> {
  const { options, git, logger } = stage.ws
  const a: AttemptState = {
    task,
    stage,
    attempt,
    branch: stage.ws.branchOf(task),
    startSha: stage.startCommits.get(task.id) ?? options.baseSha,
    startedAt: Date.now(),
    kept: false
  }
  if (options.signal?.aborted)
    return ended(a, { status: 'failed', changedFiles: [], reason: 'cancelled before it started' })
  if (stage.setupFailure) return ended(a, setupFailed(stage.setupFailure))
  // A retry gets a worktree, prompt and log of its own (the first attempt's log stays).
  const slot = attempt === 1 ? task.id : `${task.id}-attempt${attempt}`
  const outcome = await stage.slots
    .with(
      slot,
      a.branch,
      a.startSha,
      (wt, release) => inWorktree(a, slot, wt, release),
      stage.waitForRemoval,
      task.paths
    )
    .catch((error: unknown): Attempt => {
      // Committed work stays the task's result when only removing its worktree failed.
      if (!a.committed) throw error
      logger.warning(`[${task.id}] ${errorMessage(error)}`)
      return { kind: 'committed', work: a.committed }
    })
  if (outcome.kind === 'committed') return outcome
  // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind
  // (one whose work could not be committed, or did not finish, keeps it).
  if (!a.kept) await git.run(['update-ref', '-d', `refs/heads/${a.branch}`])
  logger.info(`[${task.id}] ${describe(outcome.result)}`)
  return outcome
}

/** The attempt's result with its identity and timing. */
function ended(
  a: AttemptState,
  partial: Omit<TaskResult, 'id' | 'title' | 'branch' | 'durationMs'>
): Extract<TaskOutcome, { kind: 'result' }> {
  const finishedAt = Date.now()
  const { task, branch, startedAt } = a
  const base = { id: task.id, title: task.title, branch, durationMs: finishedAt - startedAt }
  return { kind: 'result', result: { ...base, startedAt, finishedAt, ...partial } }
}

/** In the attempt's worktree: the prompt, the agent's start (or the cost cap's refusal). */
async function inWorktree(
  a: AttemptState,
  slot: string,
  wt: Worktree,
  release: () => void
): Promise<Attempt> {
  const { task, stage, attempt } = a
  const { options, logger } = stage.ws
  logger.info(`[${task.id}] started${attempt > 1 ? ` (attempt ${attempt})` : ''}: ${task.title}`)
  emit(options.watch, logger, { kind: 'started', at: Date.now(), taskId: task.id, attempt })
  const prompt = renderPrompt({
    issue: options.issue,
    task,
    siblings: options.tasks,
    branch: a.branch,
    baseBranch: options.baseBranch,
    sparse: wt.sparse
  })
  const started = await stage.start({
    task,
    wt,
    slot,
    command: options.agentCommand,
    prompt,
    extraEnv: { TASK_MODE: 'run' },
    startSha: a.startSha
  })
  if ('refused' in started) {
    // The cost cap was reached while it waited for its turn.
    release()
    const reason = `not started: ${started.refused}`
    return ended(a, { status: attempt === 1 ? 'skipped' : 'failed', changedFiles: [], reason })
  }
  return afterAgent(a, slot, wt, release, started)
}

/** The agent has ended: its failure (maybe passing: retried), or its work committed. */
async function afterAgent(
  a: AttemptState,
  slot: string,
  wt: Worktree,
  release: () => void,
  { run, logFile, report }: Exclude<Awaited<ReturnType<AgentStarter>>, { refused: string }>
): Promise<Attempt> {
  const { task, stage } = a
  const { ws } = stage
  await ws.checkSharedGit(slot)
  const common = {
    logFile,
    logTail: run.logTail,
    exitCode: run.exitCode,
    timedOut: run.timedOut,
    ...(report ? { agentReport: report } : {})
  }
  // `rm -rf` of an overlay worktree fails on its mount point (EBUSY) where it removes a
  // checkout: either way the agent removed its worktree, which collect reports.
  const failed = failure(ws.options, run)
  const exitedOnly = !run.cancelled && !run.timedOut && run.exitCode !== null
  if (failed && !(exitedOnly && (await worktreeRemoved(wt)))) {
    release()
    const transient = stage.starts.transient(run, run.logTail)
    const failedResult = ended(a, { ...common, status: 'failed', changedFiles: [], reason: failed })
    return transient ? { ...failedResult, transient } : failedResult
  }
  const work = await collectTask(ws, wt, task, a.branch, a.startSha)
  if ('error' in work) {
    a.kept = !!work.keepBranch
    return ended(a, {
      ...common,
      status: 'failed',
      changedFiles: [],
      reason: work.error,
      ...(work.saved ? { commit: work.saved } : {})
    })
  }
  const finishedAt = Date.now()
  const partial = { id: task.id, title: task.title, branch: a.branch }
  a.committed = {
    task,
    tip: work.tip,
    startSha: a.startSha,
    partial: {
      ...partial,
      durationMs: finishedAt - a.startedAt,
      ...common,
      startedAt: a.startedAt,
      finishedAt
    }
  }
  return { kind: 'committed', work: a.committed }
}
