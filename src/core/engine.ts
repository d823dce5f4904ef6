// The run as a pipeline of stages (src/core/run/, docs/architecture.md):
// plan → prepare → agents (in dependency order; collect, judge) → integrate (verify) → clean.

import { taskBranchName } from './branches.js'
import { emit } from './events.js'
import { runAgents, openAgentStage, type TaskOutcome } from './run/agents.js'
import { refuseChangedBase } from './run/base.js'
import { withDependencies } from './run/dependents.js'
import { cleanUp, removeTaskWorktrees } from './run/clean.js'
import { integrateWork, settle, type Integration } from './run/integrate.js'
import { branchTips, guardTaskBranches } from './run/judge.js'
import type { EngineOptions } from './run/options.js'
import { planRun, plannedTasks } from './run/plan.js'
import { prepare, type Workspace } from './run/prepare.js'
import type { Produced } from './run/task-result.js'
import type { FanoutResult, TaskResult } from './types.js'

export type { EngineOptions, TaskPlan } from './run/options.js'

/**
 * The whole job without GitHub: one worktree and branch per task, agents in parallel, then one
 * integration branch with a merge commit per task. Publishing is the caller's business.
 */
export async function runFanout(options: EngineOptions): Promise<FanoutResult> {
  const plan = planRun(options, (task) => taskBranchName(options.branchPrefix, task.id))
  const ws = await prepare(options, plan)
  const stage = await openAgentStage(ws, plan.toRun.length)
  emit(options.watch, options.logger, {
    kind: 'planned',
    at: Date.now(),
    tasks: plannedTasks(options)
  })
  const results = new Map(plan.settled)
  let integration: Integration | undefined
  try {
    const outcomes = await runAgents(plan.toRun, stage)
    removeTaskWorktrees(stage)
    await ws.checkSharedGit('all agents')
    // Each task was judged as its agent ended (and told to the watcher then).
    for (const outcome of outcomes)
      if (outcome.kind === 'result') results.set(outcome.result.id, outcome.result)
    const fresh = new Map(outcomes.flatMap(producedWork))
    await refuseChangedBase(ws, results, fresh)
    const produced = new Map([...plan.produced, ...fresh])
    await guardTaskBranches(ws, produced, await branchTips(ws.git, options.branchPrefix))
    if (options.agentsOnly) {
      // A matrix task job: its work is ready for the merge job, nothing is integrated here.
      for (const id of produced.keys()) results.get(id)!.status = 'ready'
    } else {
      emit(options.watch, options.logger, { kind: 'integrating', at: Date.now() })
      integration = await integrateWork(stage, produced)
      settle(results, produced, integration)
      // What re-runs and resolves reported counts to their tasks (agents/starts.ts).
      stage.starts.foldInto(results)
    }
  } finally {
    await cleanUp(stage)
  }
  const result = finalResult(ws, results, integration)
  emit(options.watch, options.logger, { kind: 'done', at: Date.now(), tasks: result.tasks })
  return result
}

function producedWork(outcome: TaskOutcome): [string, Produced][] {
  return outcome.kind === 'result' && outcome.produced
    ? [[outcome.result.id, outcome.produced]]
    : []
}

/** The run's result, tasks in list order; a moved integration branch is a warning. */
function finalResult(
  ws: Workspace,
  results: Map<string, TaskResult>,
  integration: Integration | undefined
): FanoutResult {
  const { options } = ws
  if (integration?.movedTo !== undefined)
    ws.warn(
      `${ws.integrationBranch} was changed while this run worked (it is now at ${integration.movedTo.slice(0, 12) || 'nothing'}), so it was left as it is; this run's result is commit ${integration.sha.slice(0, 12)}. Run again: commits made on the branch are kept.`
    )
  return {
    baseBranch: options.baseBranch,
    baseSha: options.baseSha,
    integrationBranch: ws.integrationBranch,
    integrationSha: integration?.sha ?? options.baseSha,
    tasks: options.tasks.map((task) =>
      ws.files.withDisk(withDependencies(results.get(task.id)!, task))
    ),
    ...(integration?.verify ? { verify: integration.verify } : {}),
    ...(ws.warnings.length ? { warnings: ws.warnings } : {})
  }
}
