// A task job whose task builds on others (docs/task-list.md, matrix workflows): the plan job
// started it only once they were merged by an earlier round, so their branches are on origin,
// recorded in the status comment's state. They are fetched and handed to the engine as reused
// work, and the task starts from their merge, as it would in run mode.

import { taskBranchName } from '../../core/branches.js'
import type { TaskPlan } from '../../core/engine.js'
import { listRemoteBranches } from '../../core/git/remote.js'
import type { Task } from '../../core/types.js'
import { fetchReused } from '../steps/prepare.js'
import type { Run } from '../steps/context.js'
import { keptResult, planTasks, type PlanRecord, type RunState } from '../state.js'

/**
 * The plans of the tasks `task` builds on: `reuse` (fetched) where an earlier round merged it,
 * else its recorded result kept as it is (the engine then skips the task, saying why).
 */
export async function dependencyPlans(
  r: Run,
  tasks: Task[],
  task: Task,
  state: RunState | undefined,
  record: PlanRecord
): Promise<Map<string, TaskPlan>> {
  const deps = tasks.filter((t) => task.dependsOn?.includes(t.id) && !t.checked)
  if (deps.length === 0) return new Map()
  const remoteTips = await listRemoteBranches(r.git, 'origin', r.prefix, r.auth)
  const { plan } = planTasks(deps, state, remoteTips, { kind: 'run' })
  const plans = new Map<string, TaskPlan>()
  for (const dep of deps) {
    const own = plan.get(dep.id)
    plans.set(
      dep.id,
      own?.mode === 'reuse'
        ? own
        : {
            mode: 'keep',
            result: keptResult(dep, state?.tasks[dep.id], taskBranchName(r.prefix, dep.id))
          }
    )
  }
  const base = { branch: record.baseBranch, sha: record.baseSha }
  await fetchReused(r, deps, plans, base, remoteTips)
  return plans
}
