// Reruns and comment commands with dependencies. A task whose result is reused from an earlier
// run (or kept as it was) was built on its dependencies' work of that run: when one of them runs
// again, that work is replaced, so the task runs again too, on top of the new work; when one of
// them is dropped, the task's branch still holds the dropped work, so it is dropped with it
// (its branch is kept, as for any drop). Commits by people are never replaced: a task whose
// branch holds them stays as it is.

import type { TaskPlan } from '../engine.js'
import { dependencyOrder } from '../tasks/dependencies.js'
import type { Task } from '../types.js'

/** Why a task's plan changed because of a dependency, for the log. */
export interface FollowedDependency {
  id: string
  mode: 'run' | 'drop'
  because: string
}

/**
 * Carries each dependency's `run` or `drop` over to the tasks that build on it (transitively),
 * in place; returns what it changed. Tasks without a plan entry (checked ones) are left alone.
 */
export function followDependencies(
  tasks: readonly Task[],
  plan: Map<string, TaskPlan>
): FollowedDependency[] {
  const changed: FollowedDependency[] = []
  for (const task of dependencyOrder(tasks)) {
    const own = plan.get(task.id)
    const replaceable =
      (own?.mode === 'keep' && own.result.status !== 'merged-by-hand') ||
      (own?.mode === 'reuse' && !own.byPeople)
    if (!replaceable) continue
    const deps = (task.dependsOn ?? []).map((id) => ({ id, mode: plan.get(id)?.mode }))
    const rerun = deps.filter((d) => d.mode === 'run').map((d) => d.id)
    const dropped = deps.filter((d) => d.mode === 'drop').map((d) => d.id)
    if (rerun.length > 0) {
      plan.set(task.id, { mode: 'run' })
      changed.push({ id: task.id, mode: 'run', because: `${rerun.join(', ')} run(s) again` })
    } else if (dropped.length > 0) {
      plan.set(task.id, { mode: 'drop' })
      changed.push({ id: task.id, mode: 'drop', because: `it builds on ${dropped.join(', ')}` })
    }
  }
  return changed
}
