// Dependencies in matrix workflows, in rounds. A matrix's task jobs run side by side on their
// own runners, and a job cannot wait for another job's branch without holding a runner while it
// waits. So the plan job starts only tasks whose dependencies are finished before this round
// (merged in an earlier run, or done); a task that builds on a task of this round waits for the
// next round. The merge job merges the round; the tasks whose dependencies merged are then
// `queued` for the next run (the merge job's `pending-tasks` output lists them), and those whose
// dependencies did not are `skipped` with the chain. The next run reuses the round's work and
// starts them from it: run mode's result, one level of the dependency graph per round.

import { dependencyOrder } from '../tasks/dependencies.js'
import { isMerged, type Task, type TaskResult } from '../types.js'

/**
 * The tasks planned to run that must wait for the next round, each with the tasks it waits for:
 * a dependency that runs this round, or that itself waits.
 */
export function waitingTasks(
  tasks: readonly Task[],
  runs: (id: string) => boolean
): Map<string, string[]> {
  const waiting = new Map<string, string[]>()
  for (const task of dependencyOrder(tasks)) {
    if (task.checked || !runs(task.id)) continue
    const on = (task.dependsOn ?? []).filter((id) => runs(id) || waiting.has(id))
    if (on.length > 0) waiting.set(task.id, on)
  }
  return waiting
}

/** The row of a task that waits for the next round. */
export function waitingResult(
  task: Pick<Task, 'id' | 'title'>,
  branch: string,
  on: string[]
): TaskResult {
  return {
    id: task.id,
    title: task.title,
    status: 'queued',
    branch,
    changedFiles: [],
    durationMs: 0,
    reason: `waits for ${on.join(', ')}: it starts in the next run, from their merged work`
  }
}

/**
 * After the merge of a round: each waiting task is `queued` when every task it builds on is
 * merged (or still waits itself), else `skipped` with the chain ("T1 failed"). Returns the IDs
 * of the tasks the next run can start.
 */
export function settleWaiting(
  tasks: readonly Task[],
  results: Map<string, TaskResult>,
  waiting: ReadonlySet<string>
): string[] {
  const ready: string[] = []
  for (const task of dependencyOrder(tasks)) {
    if (!waiting.has(task.id)) continue
    const result = results.get(task.id)
    if (!result) continue
    // A checked dependency is done: its work is in the base.
    const deps = (task.dependsOn ?? [])
      .filter((id) => !tasks.find((t) => t.id === id)?.checked)
      .map((id) => ({ id, result: results.get(id) }))
    const missing = deps.filter(
      (d) => d.result && !isMerged(d.result.status) && d.result.status !== 'queued'
    )
    if (missing.length > 0) {
      const reason = missing.map((d) => `${d.id} ${dependencySays(d.result!)}`).join(', ')
      results.set(task.id, { ...result, status: 'skipped', reason })
    } else if (deps.every((d) => !d.result || isMerged(d.result.status))) {
      results.set(task.id, {
        ...result,
        reason: `${deps.map((d) => d.id).join(', ')} merged: it starts in the next run`
      })
      ready.push(task.id)
    }
  }
  return ready
}

/**
 * How a dependency that is not there to build on ended, as its dependents' reasons say it:
 * "failed", "had no changes", "was dropped", "skipped (T1 failed)", "conflicted".
 */
export function dependencySays(result: Pick<TaskResult, 'status' | 'reason'>): string {
  if (result.status === 'no-changes') return 'had no changes'
  if (result.status === 'skipped')
    return result.reason?.startsWith('dropped')
      ? 'was dropped'
      : `skipped (${result.reason ?? 'not run'})`
  if (result.status === 'queued') return 'is not done yet'
  return result.status
}
