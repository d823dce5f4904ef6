// The run as a pipeline of stages (src/core/run/, docs/architecture.md):
// plan → prepare → agents (collect) → judge → integrate (verify) → clean.

import { taskBranchName } from './branches.js'
import { emit } from './events.js'
import { runAgents, openAgentStage, type Committed, type TaskOutcome } from './run/agents.js'
import { cleanUp, removeTaskWorktrees } from './run/clean.js'
import { integrateWork, settle, type Integration } from './run/integrate.js'
import { guardTaskBranches, judge } from './run/judge.js'
import type { EngineOptions } from './run/options.js'
import { planRun, plannedTasks } from './run/plan.js'
import { prepare, type Workspace } from './run/prepare.js'
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
    const judged = await judge(ws, outcomes.flatMap(committedWork))
    for (const outcome of outcomes)
      if (outcome.kind === 'result') results.set(outcome.result.id, outcome.result)
    for (const [id, result] of judged.results) {
      results.set(id, result)
      emit(options.watch, options.logger, {
        kind: 'finished',
        at: Date.now(),
        result: { ...result }
      })
    }
    const produced = new Map([...plan.produced, ...judged.produced])
    await guardTaskBranches(ws, produced, judged.tips)
    if (options.agentsOnly) {
      // A matrix task job: its work is ready for the merge job, nothing is integrated here.
      for (const id of produced.keys()) results.get(id)!.status = 'ready'
    } else {
      emit(options.watch, options.logger, { kind: 'integrating', at: Date.now() })
      integration = await integrateWork(stage, produced)
      settle(results, produced, integration)
    }
  } finally {
    await cleanUp(stage)
  }
  const result = finalResult(ws, results, integration)
  emit(options.watch, options.logger, { kind: 'done', at: Date.now(), tasks: result.tasks })
  return result
}

function committedWork(outcome: TaskOutcome): Committed[] {
  return outcome.kind === 'committed' ? [outcome.work] : []
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
    tasks: options.tasks.map((task) => results.get(task.id)!),
    ...(integration?.verify ? { verify: integration.verify } : {}),
    ...(ws.warnings.length ? { warnings: ws.warnings } : {})
  }
}
