// The agent stage with dependencies: the scheduler (schedule.ts) decides when a task starts,
// the start commit (start-commit.ts) where. Each task is judged as its agent ends (agents.ts),
// so its dependents know at once whether there is work to build on. Tasks without
// dependencies start from the base as they always did.

import { emit } from '../events.js'
import type { Git } from '../git/git.js'
import { dependencyOrder } from '../tasks/dependencies.js'
import { isMerged, type Task, type TaskResult } from '../types.js'
import { errorMessage } from '../util/errors.js'
import type { AgentStage, TaskOutcome } from './agents.js'
import type { EngineOptions } from './options.js'
import { planOf } from './plan.js'
import { dependencySays } from './rounds.js'
import { runInDependencyOrder } from './schedule.js'
import { buildStartCommit, type DependencyWork } from './start-commit.js'

/** A dependency as the run found it: finished with work at `tip` (none: in the base), or not. */
export type DependencyState = { ok: true; tip?: string } | { ok: false; says: string }

export interface DependentRun<O> {
  git: Git
  baseSha: string
  /** Every task of the list (dependencies may be any of them). */
  tasks: readonly Task[]
  /** The tasks whose agents this run starts, in list order. */
  toRun: readonly Task[]
  limit: number
  /** A dependency not started this run: checked, reused, merged elsewhere, kept or dropped. */
  outside(id: string): DependencyState
  /** Runs the task's agent in a worktree at `startSha`. */
  run(task: Task, startSha: string): Promise<O>
  /**
   * What the judged outcome is worth to dependents: work to build on (`tip`), or how it ended
   * (`says`: "failed", "had no changes").
   */
  read(outcome: O): { tip: string } | { says: string }
  /** The outcome of a task that is not started: `reason` says why (the chain). */
  skipped(task: Task, reason: string): O
}

/**
 * Runs `toRun` in dependency order (schedule.ts): each task from its start commit, the
 * dependents of a task without work skipped. Returns the outcomes in the order of `toRun`, and
 * each task's start commit (the base for tasks without dependencies).
 */
export async function runWithDependencies<O>(
  options: DependentRun<O>
): Promise<{ outcomes: O[]; starts: Map<string, string> }> {
  const { git, baseSha } = options
  const outcomes = new Map<string, O>()
  const starts = new Map<string, string>()
  const tips = new Map<string, string | undefined>()
  const order = dependencyOrder(options.tasks).map((t) => t.id)

  const startOf = async (task: Task): Promise<{ sha: string } | { reason: string }> => {
    const dependencies: DependencyWork[] = order
      .filter((id) => task.dependsOn?.includes(id) && tips.get(id) !== undefined)
      .map((id) => ({
        id,
        title: options.tasks.find((t) => t.id === id)?.title ?? id,
        tip: tips.get(id)!
      }))
    try {
      const start = await buildStartCommit(git, { baseSha, taskId: task.id, dependencies })
      return 'sha' in start ? start : { reason: start.reason }
    } catch (error) {
      return { reason: `its start could not be built: ${errorMessage(error)}` }
    }
  }

  await runInDependencyOrder({
    tasks: options.toRun,
    limit: options.limit,
    outside: (id) => {
      const state = options.outside(id)
      if (state.ok) tips.set(id, state.tip)
      return state.ok ? { ok: true } : { ok: false, says: state.says }
    },
    run: async (task) => {
      const start = await startOf(task)
      if ('reason' in start) {
        outcomes.set(task.id, options.skipped(task, start.reason))
        return { ok: false, says: `skipped (${start.reason})` }
      }
      starts.set(task.id, start.sha)
      const outcome = await options.run(task, start.sha)
      outcomes.set(task.id, outcome)
      const read = options.read(outcome)
      if ('says' in read) return { ok: false, says: read.says }
      tips.set(task.id, read.tip)
      return { ok: true }
    },
    skip: (task, reason) => outcomes.set(task.id, options.skipped(task, reason))
  })
  return { outcomes: options.toRun.map((t) => outcomes.get(t.id)!), starts }
}

/**
 * The agent stage's scheduler (runAgents): runWithDependencies over runTask, with the
 * dependencies this run does not start read from the plan (checked, reused, merged, kept,
 * dropped), and a task that is not started reported as skipped with the chain.
 */
export async function scheduleAgents(
  tasks: Task[],
  stage: AgentStage,
  runTask: (task: Task, stage: AgentStage) => Promise<TaskOutcome>
): Promise<TaskOutcome[]> {
  const { ws } = stage
  const { options, logger } = ws
  const { outcomes } = await runWithDependencies<TaskOutcome>({
    git: ws.git,
    baseSha: options.baseSha,
    tasks: options.tasks,
    toRun: tasks,
    limit: stage.maxParallel,
    outside: (id) => plannedState(options, id),
    run: (task, startSha) => {
      if (startSha !== options.baseSha) stage.startCommits.set(task.id, startSha)
      return runTask(task, stage)
    },
    read: (outcome) =>
      outcome.kind === 'result' && outcome.produced
        ? { tip: outcome.produced.tip }
        : { says: outcome.kind === 'result' ? dependencySays(outcome.result) : 'failed' },
    skipped: (task, reason) => {
      const result: TaskResult = {
        id: task.id,
        title: task.title,
        status: 'skipped',
        branch: ws.branchOf(task),
        changedFiles: [],
        durationMs: 0,
        reason
      }
      logger.info(`[${task.id}] skipped: ${reason}`)
      emit(options.watch, logger, { kind: 'finished', at: Date.now(), result: { ...result } })
      return { kind: 'result', result }
    }
  })
  return outcomes
}

/** A dependency this run does not start, as the plan has it. */
function plannedState(options: EngineOptions, id: string): DependencyState {
  const task = options.tasks.find((t) => t.id === id)
  if (!task) return { ok: false, says: 'is not in the task list' }
  if (task.checked) return { ok: true }
  const plan = planOf(options, task)
  if (plan.mode === 'reuse' || plan.mode === 'merge') return { ok: true, tip: plan.tip }
  if (plan.mode === 'drop') return { ok: false, says: 'was dropped' }
  if (plan.mode === 'keep')
    return isMerged(plan.result.status) && plan.result.commit
      ? { ok: true, tip: plan.result.commit }
      : { ok: false, says: dependencySays(plan.result) }
  return { ok: false, says: 'did not run' }
}

/** The result with the task's dependencies, for the report's "After" column. */
export function withDependencies(result: TaskResult, task: Task): TaskResult {
  return task.dependsOn?.length ? { ...result, dependsOn: task.dependsOn } : result
}
