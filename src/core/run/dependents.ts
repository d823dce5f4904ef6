// The agent stage with dependencies: the scheduler (schedule.ts) decides when a task starts,
// the start commit (start-commit.ts) where. A task that others depend on is judged as soon as
// its agent is done (does its work descend from its start and change files?), because its
// dependents need the answer before the judge looks at every task after the last agent.
// Independent tasks go through exactly as before: started from the base, judged at the end.

import type { Git } from '../git/git.js'
import { surveyTips } from '../git/tips.js'
import { dependencyOrder } from '../tasks/dependencies.js'
import type { Task } from '../types.js'
import { errorMessage } from '../util/errors.js'
import { runInDependencyOrder, type Verdict } from './schedule.js'
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
   * What the outcome is worth to dependents: committed work to be judged (`tip`), or a result
   * already (`says` how it ended: "failed", "had no changes").
   */
  read(outcome: O): { tip: string } | { says: string }
  /** The outcome of a task that is not started: `reason` says why (the chain). */
  skipped(task: Task, reason: string): O
  /** Work of a task others build on that is no result (the judge will say so too). */
  blocked?(changedFiles: string[]): boolean
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
  const hasDependents = new Set(options.tasks.flatMap((t) => t.dependsOn ?? []))
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

  const judgeEarly = async (task: Task, outcome: O, start: string): Promise<Verdict> => {
    const read = options.read(outcome)
    if ('says' in read) return { ok: false, says: read.says }
    if (!hasDependents.has(task.id)) return { ok: true }
    const survey = (await surveyTips(git, start, [read.tip]).catch(() => undefined))?.get(read.tip)
    if (!survey?.descends) return { ok: false, says: 'failed' }
    if (survey.changes.length === 0) return { ok: false, says: 'had no changes' }
    if (options.blocked?.(survey.changes.map((c) => c.path))) return { ok: false, says: 'failed' }
    tips.set(task.id, read.tip)
    return { ok: true }
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
      return judgeEarly(task, outcome, start.sha)
    },
    skip: (task, reason) => outcomes.set(task.id, options.skipped(task, reason))
  })
  return { outcomes: options.toRun.map((t) => outcomes.get(t.id)!), starts }
}
