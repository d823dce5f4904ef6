// The attempts of one task (issue 15): its agent started again in a fresh worktree after a
// transient failure, the cost cap checked before each start, every attempt's report added up.
// The retry policy itself is agents/attempts.ts; one attempt is attemptTask (agents.ts).
import { addReports } from '../agents/budget.js'
import type { AgentReport } from '../agents/presets/types.js'
import type { AgentStarts } from '../agents/starts.js'
import type { TransientCause } from '../agents/transient.js'
import { denialWarning, NOT_STARTED } from '../report/agent-cost.js'
import type { Task, TaskResult } from '../types.js'
import type { TaskOutcome } from './agents.js'

/** One attempt's outcome; `transient` when its agent failed for a passing reason. */
export type Attempt = TaskOutcome & { transient?: TransientCause }

/**
 * Runs `attempt(1)`, then again while it fails transiently and max-attempts allows (a task the
 * cost cap keeps from starting is `skipped`). The outcome is the last attempt's, with the report
 * of all attempts (cost and tokens summed: each was billed), the tries, when its first agent
 * started, and, for a transient failure not retried, why not. Refused tool calls are a warning.
 */
export async function runAttempts(
  task: Task,
  branch: string,
  starts: AgentStarts,
  warn: (message: string) => void,
  attempt: (n: number) => Promise<Attempt>
): Promise<TaskOutcome> {
  const refused = starts.refusal()
  if (refused)
    return {
      kind: 'result',
      result: {
        id: task.id,
        title: task.title,
        branch,
        status: 'skipped',
        changedFiles: [],
        durationMs: 0,
        reason: `${NOT_STARTED}${refused}`
      }
    }
  let report: AgentReport | undefined
  let startedAt: number | undefined
  const { value, tries, stopped } = await starts.attempts<TaskOutcome>(task.id, async (n) => {
    const { transient, ...outcome } = await attempt(n)
    const result = resultOf(outcome)
    report = addReports(report, result.agentReport)
    if (!result.reason?.startsWith(NOT_STARTED)) startedAt ??= result.startedAt
    const word = outcome.kind === 'committed' ? 'succeeded' : (result.reason ?? 'failed')
    return {
      value: outcome,
      outcome: transient?.cause ?? word,
      ...(transient ? { transient } : {})
    }
  })
  const result = resultOf(value)
  if (report) result.agentReport = report
  if (startedAt !== undefined) Object.assign(result, { startedAt, tries })
  if (stopped && value.kind === 'result' && result.status === 'failed')
    result.reason = `${result.reason ?? 'failed'} (${tries.at(-1)?.outcome}; ${stopped})`
  const denied = report && denialWarning(task.id, report)
  if (denied) warn(denied)
  return value
}

/** The result (or, for committed work, the result so far) an outcome carries. */
function resultOf(outcome: TaskOutcome): Partial<TaskResult> {
  return outcome.kind === 'result' ? outcome.result : outcome.work.partial
}
