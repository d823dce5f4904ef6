import { setTimeout as sleep } from 'node:timers/promises'
import type { TransientCause } from './transient.js'

/** One agent start of a task, as the report lists it (TaskResult.tries). */
export interface Try {
  attempt: number
  outcome: string
}

export interface RetryPolicy {
  /** Agent starts per task at most, the first included (input max-attempts, default 2). */
  maxAttempts: number
  /** Wait before the second start; doubled for each later one (default 10 s). */
  baseDelayMs?: number
  /** Longest wait the doubling reaches (default 2 min); a Retry-After may ask for longer. */
  maxDelayMs?: number
  /** [0, 1): the jitter's source (tests pass a fixed one). */
  random?: () => number
}

export const DEFAULT_MAX_ATTEMPTS = 2
const DEFAULT_BASE_DELAY_MS = 10_000
const DEFAULT_MAX_DELAY_MS = 120_000

/**
 * How long to wait before start `attempt + 1`. A Retry-After the API gave is what it asked for,
 * waited as given plus up to one second, so that agents limited together do not all come back
 * in the same instant. Without one: exponential (base, 2 × base, …, up to the maximum) with
 * "equal jitter" (half fixed, half random), so parallel agents that hit the same limit spread
 * out and none retries at once.
 */
export function backoffMs(attempt: number, cause: TransientCause, policy: RetryPolicy): number {
  const random = policy.random ?? Math.random
  if (cause.retryAfterMs !== undefined) return cause.retryAfterMs + Math.floor(random() * 1000)
  const base = policy.baseDelayMs ?? DEFAULT_BASE_DELAY_MS
  const max = policy.maxDelayMs ?? DEFAULT_MAX_DELAY_MS
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/** What one attempt came to: its value, a word for the report, and whether to try again. */
export interface AttemptOutcome<T> {
  value: T
  outcome: string
  /** Set when it failed for a passing reason: another attempt may start. */
  transient?: TransientCause
}

export interface AttemptHooks {
  /** Why no further agent may start now (the cost cap), checked before each retry. */
  refusal?: () => string | undefined
  /** Told of each retry before its wait. */
  onRetry?: (next: number, cause: TransientCause, delayMs: number) => void
  /** Ends the wait and stops retrying (the run is cancelled or out of time). */
  signal?: AbortSignal
  /** The wait (tests pass one that records instead of sleeping). */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * Runs `attempt(1)`, and again with the next number after a backoff while it fails for a passing
 * reason and starts are left. Returns the last attempt's value with every try; `stopped` says
 * why a transient failure was not retried (no attempts left, the cost cap, cancelled).
 * Each attempt is the caller's to make fresh (a new worktree from the base).
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<AttemptOutcome<T>>,
  hooks: AttemptHooks = {}
): Promise<{ value: T; tries: Try[]; stopped?: string }> {
  const tries: Try[] = []
  const wait =
    hooks.wait ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }))
  for (let n = 1; ; n++) {
    const result = await attempt(n)
    tries.push({ attempt: n, outcome: result.outcome })
    if (!result.transient) return { value: result.value, tries }
    const stop = (stopped: string) => ({ value: result.value, tries, stopped })
    if (n >= policy.maxAttempts)
      return stop(
        `not retried: ${n} of max-attempts ${policy.maxAttempts} ${n === 1 ? 'was' : 'were'} used`
      )
    const refused = hooks.refusal?.()
    if (refused) return stop(`not retried: ${refused}`)
    if (hooks.signal?.aborted) return stop('not retried: the run was stopped')
    const delay = backoffMs(n, result.transient, policy)
    hooks.onRetry?.(n + 1, result.transient, delay)
    try {
      await wait(delay, hooks.signal)
    } catch {
      return stop('not retried: the run was stopped during the wait')
    }
    const refusedAfter = hooks.refusal?.()
    if (refusedAfter) return stop(`not retried: ${refusedAfter}`)
  }
}
