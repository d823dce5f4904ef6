import type { PlannedTask } from '../events.js'
import type { Task, TaskResult } from '../types.js'
import type { EngineOptions, TaskPlan } from './options.js'
import type { Produced } from './task-result.js'
import { doneReason } from '../tasks/sub-issues.js'

/** What the run does with each task, decided before anything touches git. */
export interface RunPlan {
  /** Results known from the start (checked, dropped, kept, reused, merged from elsewhere). */
  settled: Map<string, TaskResult>
  /** Work to merge that no agent of this run makes (reuse, merge). */
  produced: Map<string, Produced>
  /** Tasks whose agent runs now, in list order. */
  toRun: Task[]
  /** The task branches this run writes (reuse and merge point theirs at their tip). */
  branches: string[]
}

/** The plan of one run: the caller's TaskPlan per task (default: run), checked items skipped. */
export function planRun(options: EngineOptions, branchOf: (task: Task) => string): RunPlan {
  const settled = new Map<string, TaskResult>()
  const produced = new Map<string, Produced>()
  const toRun: Task[] = []
  const branches: string[] = []
  for (const task of options.tasks) {
    const plan = planOf(options, task)
    const base = {
      id: task.id,
      title: task.title,
      branch: branchOf(task),
      changedFiles: [] as string[],
      durationMs: 0
    }
    if (!task.checked && plan.mode !== 'drop' && plan.mode !== 'keep') branches.push(base.branch)
    if (task.checked) settled.set(task.id, { ...base, status: 'skipped', reason: doneReason(task) })
    else if (plan.mode === 'drop')
      settled.set(task.id, {
        ...base,
        status: 'skipped',
        reason: 'dropped with /fanout drop; its branch is kept'
      })
    else if (plan.mode === 'keep') settled.set(task.id, { ...plan.result, title: task.title })
    else if (plan.mode === 'reuse' || plan.mode === 'merge') {
      produced.set(task.id, { tip: plan.tip, changedFiles: plan.changedFiles })
      settled.set(task.id, {
        ...base,
        status: 'merged',
        changedFiles: plan.changedFiles,
        durationMs: plan.durationMs,
        commit: plan.tip,
        ...(plan.mode === 'reuse' ? { reused: true } : {}),
        ...(plan.mode === 'reuse' && plan.byPeople ? { reason: plan.byPeople } : {}),
        ...(plan.mode === 'merge' ? agentFields(plan) : {})
      })
    } else toRun.push(task)
  }
  return { settled, produced, toRun, branches }
}

/** Work done elsewhere: its log tail, and what its agent reported (cost, tokens, tries). */
function agentFields(
  plan: Extract<TaskPlan, { mode: 'merge' }>
): Pick<TaskResult, 'logTail' | 'agentReport' | 'tries'> {
  return {
    ...(plan.logTail ? { logTail: plan.logTail } : {}),
    ...(plan.agentReport ? { agentReport: plan.agentReport } : {}),
    ...(plan.tries?.length ? { tries: plan.tries } : {})
  }
}

export function planOf(options: EngineOptions, task: Task): TaskPlan {
  return options.plan?.get(task.id) ?? { mode: 'run' }
}

/** The plan as watchers see it (the 'planned' event). */
export function plannedTasks(options: EngineOptions): PlannedTask[] {
  return options.tasks.map((task) => ({
    id: task.id,
    title: task.title,
    action: task.checked ? 'keep' : planOf(options, task).mode,
    dependsOn: task.dependsOn ?? []
  }))
}
