import type { AgentPreset } from './presets/types.js'

/**
 * Why an agent's failure is worth another try: the model API limited or refused it for the
 * moment (429, 529, 5xx) or the network dropped. `retryAfterMs` is the wait the output asked
 * for, when it said (a `Retry-After` it printed).
 */
export interface TransientCause {
  cause: string
  retryAfterMs?: number
}

/** What is known of an agent's end (a subset of AgentRunResult). */
export interface AgentEnd {
  exitCode: number | null
  timedOut: boolean
  cancelled: boolean
  noSpace?: unknown
}

/**
 * The exit status of an agent command that failed for a passing reason (sysexits.h's
 * EX_TEMPFAIL): how a free-form `agent-command` (a wrapper script) asks for a retry.
 */
export const EX_TEMPFAIL = 75

/** Only the end of a log is read for causes: that is where a CLI says why it gave up. */
export const TRANSIENT_TAIL_BYTES = 16 * 1024

/**
 * Whether a failed agent should run again: exit status 75 for any command, or, for a preset,
 * one of its transient patterns in the last lines of the output. Success, a timeout, a
 * cancellation, a signal or a full disk are never transient (another try would end the same,
 * or must not start). Only the tail is read: an agent working on "rate limiting" prints the
 * words while it works, a CLI that gave up on a 429 says so last.
 */
export function transientFailure(
  end: AgentEnd,
  logTail: string,
  preset?: Pick<AgentPreset, 'transient'>
): TransientCause | undefined {
  if (end.exitCode === 0 || end.exitCode === null || end.timedOut || end.cancelled) return undefined
  if (end.noSpace) return undefined
  const tail = logTail.slice(-TRANSIENT_TAIL_BYTES)
  const retryAfterMs = retryAfterIn(tail)
  const withWait = (cause: string): TransientCause =>
    retryAfterMs === undefined ? { cause } : { cause, retryAfterMs }
  if (end.exitCode === EX_TEMPFAIL)
    return withWait(`exit status ${EX_TEMPFAIL} (temporary failure)`)
  for (const pattern of preset?.transient ?? []) {
    const match = pattern.exec(tail)
    if (match) return withWait(describeCause(match[0]))
  }
  return undefined
}

/** A short, fixed wording for what a pattern matched (the log itself is agent output). */
export function describeCause(matched: string): string {
  const status = /\b(429|5\d\d)\b/.exec(matched)?.[1]
  if (status === '429' || /rate.?limit|RESOURCE_EXHAUSTED/i.test(matched))
    return 'rate limited by the model API (429)'
  if (status === '529' || /overload/i.test(matched)) return 'model API overloaded (529)'
  if (status) return `model API error (${status})`
  if (/UNAVAILABLE|InternalServerError/.test(matched)) return 'model API unavailable'
  return 'network error talking to the model API'
}

/** Longest wait a Retry-After may ask for (a longer one is cut to this). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000

/**
 * A `Retry-After: 12` / `"retry_after": 12` / `retry-after=12` (seconds) printed in the output,
 * the last one; undefined when none.
 */
export function retryAfterIn(text: string): number | undefined {
  const pattern = /retry[-_ ]?after["']?\s*[:=]\s*"?(\d+(?:\.\d+)?)/gi
  let seconds: number | undefined
  for (const match of text.matchAll(pattern)) seconds = Number(match[1])
  if (seconds === undefined || !Number.isFinite(seconds)) return undefined
  return Math.min(Math.round(seconds * 1000), MAX_RETRY_AFTER_MS)
}
