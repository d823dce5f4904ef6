import { FifoPool } from '../agents/fifos.js'
import { renderPrompt } from '../agents/prompt.js'
import { fitOnDisk } from '../disk.js'
import { emit } from '../events.js'
import type { Task, TaskResult } from '../types.js'
import { errorMessage } from '../util/errors.js'
import { mapWithConcurrency } from '../util/pool.js'
import { agentStarter, failure, type AgentStarter } from './agent.js'
import { collectTask } from './collect.js'
import type { Workspace } from './prepare.js'
import { Slots } from './slots.js'
import { describe, failedResult } from './task-result.js'

/** What the agent stage works with; the integrate stage borrows the slots and the starter. */
export interface AgentStage {
  ws: Workspace
  maxParallel: number
  slots: Slots
  start: AgentStarter
  fifos: FifoPool
  /** Whether a task's worktree must be gone before its slot is free (more tasks than slots). */
  waitForRemoval: boolean
}

/** Work an agent committed; judged with all the others after the last agent (judge.ts). */
export interface Committed {
  task: Task
  tip: string
  /** Its result so far: log, exit code, timing (status and files come from the judge). */
  partial: Omit<TaskResult, 'status' | 'changedFiles'>
}

/** How one task left the agent stage: a result already, or committed work to judge. */
export type TaskOutcome =
  { kind: 'result'; result: TaskResult } | { kind: 'committed'; work: Committed }

/** Slots for `count` agents: as many at once as fit on the disk (disk.ts), and their FIFOs. */
export async function openAgentStage(ws: Workspace, count: number): Promise<AgentStage> {
  // As many worktrees at once as fit on the disk where they go, or none started (disk.ts).
  const maxParallel = await fitOnDisk(ws.git, ws.options, ws.worktrees.root, count, ws.warn)
  // Every agent's output FIFOs in one process, made while the first worktrees are checked out.
  const fifos = new FifoPool(ws.dirs.logs)
  void fifos.fill(count)
  return {
    ws,
    maxParallel,
    slots: new Slots(ws.worktrees),
    start: agentStarter(ws, fifos),
    fifos,
    // Wait for the removal only where another task will need the slot (see Slots).
    waitForRemoval: count > maxParallel
  }
}

/**
 * The scheduler: every task through runTask, at most max-parallel at once, in list order.
 * Outcomes come back in the order of `tasks`.
 */
export async function runAgents(tasks: Task[], stage: AgentStage): Promise<TaskOutcome[]> {
  return stage.ws.logger.group(
    `Run ${tasks.length} agent(s), at most ${stage.maxParallel} at once`,
    () => mapWithConcurrency(tasks, stage.maxParallel, (task) => runTask(task, stage))
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
    outcome = await attemptTask(task, stage, 1)
  } catch (error) {
    // A broken worktree or git failure ends this task, not the others.
    ws.logger.warning(`[${task.id}] ${errorMessage(error)}`)
    outcome = {
      kind: 'result',
      result: failedResult(
        task,
        ws.branchOf(task),
        `could not run the task: ${errorMessage(error)}`
      )
    }
  }
  if (outcome.kind === 'result')
    emit(ws.options.watch, ws.logger, { kind: 'finished', at: Date.now(), result: outcome.result })
  return outcome
}

/** One start of a task's agent in a fresh worktree at the base: run it, commit what it left. */
export async function attemptTask(
  task: Task,
  stage: AgentStage,
  attempt: number
): Promise<TaskOutcome> {
  const { ws } = stage
  const { options, git, logger } = ws
  const branch = ws.branchOf(task)
  // Where the task starts (its worktree, BASE_SHA, what its work is committed on top of).
  const startSha = options.baseSha
  const startedAt = Date.now()
  let kept = false
  let committed: Committed | undefined
  const result = (
    partial: Omit<TaskResult, 'id' | 'title' | 'branch' | 'durationMs'>
  ): TaskOutcome => {
    const finishedAt = Date.now()
    const base = { id: task.id, title: task.title, branch, durationMs: finishedAt - startedAt }
    return { kind: 'result', result: { ...base, startedAt, finishedAt, ...partial } }
  }
  if (options.signal?.aborted)
    return result({ status: 'failed', changedFiles: [], reason: 'cancelled before it started' })
  const outcome = await stage.slots
    .with(
      task.id,
      branch,
      startSha,
      async (wt, release): Promise<TaskOutcome> => {
        logger.info(`[${task.id}] started: ${task.title}`)
        emit(options.watch, logger, { kind: 'started', at: Date.now(), taskId: task.id, attempt })
        const prompt = renderPrompt({
          issue: options.issue,
          task,
          siblings: options.tasks,
          branch,
          baseBranch: options.baseBranch
        })
        const { run, logFile } = await stage.start({
          task,
          wt,
          slot: task.id,
          command: options.agentCommand,
          prompt,
          extraEnv: { TASK_MODE: 'run' },
          startSha
        })
        await ws.checkSharedGit(task.id)
        const common = {
          logFile,
          logTail: run.logTail,
          exitCode: run.exitCode,
          timedOut: run.timedOut
        }
        const failed = failure(options, run)
        if (failed) {
          release()
          return result({ ...common, status: 'failed', changedFiles: [], reason: failed })
        }
        const work = await collectTask(ws, wt, task, branch, startSha)
        if ('error' in work) {
          kept = work.keepBranch
          return result({
            ...common,
            status: 'failed',
            changedFiles: [],
            reason: work.error,
            ...(work.saved ? { commit: work.saved } : {})
          })
        }
        const finishedAt = Date.now()
        const partial = {
          id: task.id,
          title: task.title,
          branch,
          durationMs: finishedAt - startedAt
        }
        committed = {
          task,
          tip: work.tip,
          partial: { ...partial, ...common, startedAt, finishedAt }
        }
        return { kind: 'committed', work: committed }
      },
      stage.waitForRemoval
    )
    .catch((error: unknown): TaskOutcome => {
      // Committed work stays the task's result when only removing its worktree failed.
      if (!committed) throw error
      logger.warning(`[${task.id}] ${errorMessage(error)}`)
      return { kind: 'committed', work: committed }
    })
  if (outcome.kind === 'committed') return outcome
  // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind
  // (one whose work could not be committed, or did not finish, keeps it).
  if (!kept) await git.run(['update-ref', '-d', `refs/heads/${branch}`])
  logger.info(`[${task.id}] ${describe(outcome.result)}`)
  return outcome
}
