import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../types.js'
import { withRetries, type AttemptOutcome, type RetryPolicy, type Try } from './attempts.js'
import { addReports, CostBudget, formatUsd } from './budget.js'
import { StartPacer } from './pacing.js'
import type { AgentPreset, AgentReport } from './presets/types.js'
import { readAgentReport } from './result-file.js'
import { transientFailure, type AgentEnd, type TransientCause } from './transient.js'

export interface AgentStartOptions {
  /** The run's private directory: result files go under it, outside every worktree. */
  workDir: string
  preset?: AgentPreset
  /** Input max-attempts (default 2): agent starts per task, the first included. */
  maxAttempts?: number
  /** Input start-interval-seconds, in ms (default 0). */
  startIntervalMs?: number
  /** Input max-cost-usd: no agent starts once the run's reported spend reaches it. */
  maxCostUsd?: number
  /** Backoff of retries (tests shorten it); see attempts.ts. */
  retryDelay?: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>
  logger: Logger
  signal?: AbortSignal
}

/**
 * Everything around one agent start that is not running it: the pacing of starts, the cost cap,
 * the task's $TASK_RESULT_FILE and reading the agent's report afterwards, and the attempt loop
 * that starts a task's agent again after a transient failure. One per run, shared by every
 * task's starts (first attempts, retries, re-runs and resolves alike).
 */
export class AgentStarts {
  readonly budget: CostBudget
  private readonly pacer: StartPacer
  private readonly resultDir: string
  private readonly later = new Map<string, AgentReport>()

  constructor(private readonly options: AgentStartOptions) {
    this.budget = new CostBudget(options.maxCostUsd)
    this.pacer = new StartPacer(options.startIntervalMs ?? 0)
    this.resultDir = path.join(options.workDir, 'agent-results')
  }

  /** Why no agent may start now (max-cost-usd reached), or undefined. */
  refusal(): string | undefined {
    return this.budget.refusal()
  }

  /**
   * Waits for this start's turn (start-interval-seconds) and gives it an empty result file:
   * its path is the agent's TASK_RESULT_FILE. `refused` is set when the cost cap was reached
   * meanwhile (the agent must not start).
   */
  async before(slot: string): Promise<{ resultFile: string; refused?: string }> {
    await this.pacer.turn(this.options.signal)
    const refused = this.refusal()
    await mkdir(this.resultDir, { recursive: true, mode: 0o700 })
    const resultFile = path.join(this.resultDir, `${slot}.json`)
    await rm(resultFile, { force: true })
    return { resultFile, ...(refused ? { refused } : {}) }
  }

  /** After the agent ended: its report (result file and CLI output), counted against the cap. */
  async after(slot: string, resultFile: string, logFile: string): Promise<AgentReport | undefined> {
    const { report, problems } = await readAgentReport({
      resultFile,
      logFile,
      preset: this.options.preset
    })
    await rm(resultFile, { force: true })
    for (const problem of problems)
      this.options.logger.warning(`[${slot}] its result file was not used in full: ${problem}`)
    this.budget.record(report)
    if (report?.costUsd !== undefined && this.options.maxCostUsd !== undefined)
      this.options.logger.info(
        `[${slot}] reported ${formatUsd(report.costUsd)}; the run has spent ${formatUsd(this.budget.spent)} of max-cost-usd ${formatUsd(this.options.maxCostUsd)}`
      )
    return report
  }

  /** A re-run's or resolve's report, added to its task's once integration is done (foldInto). */
  addLater(taskId: string, report: AgentReport | undefined): void {
    if (report) this.later.set(taskId, addReports(this.later.get(taskId), report) ?? report)
  }

  /** Adds the re-runs' and resolves' reports to their tasks' results: all a task cost. */
  foldInto(results: Map<string, { agentReport?: AgentReport }>): void {
    for (const [id, report] of this.later) {
      const result = results.get(id)
      if (result) result.agentReport = addReports(result.agentReport, report) ?? report
    }
  }

  /** Whether a failed agent's end is worth another start (transient.ts). */
  transient(end: AgentEnd, logTail: string): TransientCause | undefined {
    return transientFailure(end, logTail, this.options.preset)
  }

  /**
   * Runs a task's attempts: `attempt(n)` makes a fresh worktree and starts the agent in it; it
   * is made again after a transient failure, after a backoff, up to max-attempts, unless the cost
   * cap is reached or the run is stopped. Returns the tries for the report and, when a transient
   * failure was the last word, why it was not retried.
   */
  attempts<T>(
    id: string,
    attempt: (n: number) => Promise<AttemptOutcome<T>>
  ): Promise<{ value: T; tries: Try[]; stopped?: string }> {
    const maxAttempts = this.options.maxAttempts ?? 2
    return withRetries({ maxAttempts, ...this.options.retryDelay }, attempt, {
      refusal: () => this.refusal(),
      signal: this.options.signal,
      onRetry: (next, cause, delayMs) =>
        this.options.logger.info(
          `[${id}] ${cause.cause}: starting attempt ${next} of ${maxAttempts} in a fresh worktree in ${(delayMs / 1000).toFixed(1)}s`
        )
    })
  }
}
