// Edits of the status comment while a run goes, paced the way GitHub asks integrations to write
// (at least a second between content-changing requests, fewer is better): a new body replaces
// the one still waiting (coalescing), ordinary updates go out at most every `intervalMs`,
// milestones (`urgent`: the first post, all agents done, the final report) as soon as the
// one-second gap allows. One write at a time, in order; a failed live edit is logged, never
// fatal: the final report is what must arrive, and its failure is the caller's to see.

import type { Logger } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import type { CommentData, GitHubApi } from './api.js'
import { upsertStatusComment } from './publish.js'

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realClock: Clock = {
  now: () => Date.now(),
  // Not unref'd: stop() awaits one, and every run ends its live status (stop or final), which
  // clears what is pending.
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout)
}

export interface PacedWriterOptions {
  logger: Logger
  /** Least time between ordinary updates (default 3 s). */
  intervalMs?: number
  /** Least time between any two writes, urgent ones included (default 1 s, GitHub's rule). */
  minGapMs?: number
  /** Live updates allowed in one run (the final report is always written); default 60. */
  maxWrites?: number
  clock?: Clock
}

export class PacedWriter {
  private pending?: { body: string; urgent: boolean }
  private inFlight?: Promise<void>
  private timer?: unknown
  private lastEnd?: number
  private writes = 0
  private heldUntil = 0
  private closed = false
  private idle: (() => void)[] = []
  private readonly intervalMs: number
  private readonly minGapMs: number
  private readonly maxWrites: number
  private readonly clock: Clock

  constructor(
    private readonly write: (body: string) => Promise<void>,
    private readonly options: PacedWriterOptions
  ) {
    this.intervalMs = options.intervalMs ?? 3000
    this.minGapMs = options.minGapMs ?? 1000
    this.maxWrites = options.maxWrites ?? 60
    this.clock = options.clock ?? realClock
  }

  /** Schedules `body`, replacing any body still waiting. */
  post(body: string, urgent = false): void {
    if (this.closed || this.writes >= this.maxWrites) return
    this.pending = { body, urgent: urgent || (this.pending?.urgent ?? false) }
    this.schedule()
  }

  /**
   * No write starts before `until` (a clock time): what is posted meanwhile waits, and is
   * dropped if `final` or `stop` comes first. Used when the final report is about to replace
   * the body anyway, so the write it would cost does not delay the report.
   */
  holdUntil(until: number): void {
    this.heldUntil = Math.max(this.heldUntil, until)
    this.schedule()
  }

  /** Resolves once nothing is waiting or being written. */
  settled(): Promise<void> {
    if (!this.pending && !this.inFlight) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  /**
   * Writes the final body: after what is in flight, dropping what still waits, once the
   * one-second gap has passed. Later posts are ignored. A failure is thrown.
   */
  async final(body: string): Promise<void> {
    await this.stop()
    await this.write(body)
    this.lastEnd = this.clock.now()
  }

  /**
   * Ends the live edits without a final body (the caller writes it by other means): what waits
   * is dropped, what is in flight finishes, and the one-second gap after it passes.
   */
  async stop(): Promise<void> {
    this.closed = true
    this.pending = undefined
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    if (this.inFlight) await this.inFlight
    const wait = this.lastEnd === undefined ? 0 : this.lastEnd + this.minGapMs - this.clock.now()
    if (wait > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, wait))
  }

  private schedule(): void {
    if (this.inFlight || !this.pending) return
    const gap = this.pending.urgent ? this.minGapMs : this.intervalMs
    const now = this.clock.now()
    const due = Math.max(
      this.lastEnd === undefined ? 0 : this.lastEnd + gap - now,
      this.heldUntil - now
    )
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    if (due > 0) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined
        this.schedule()
      }, due)
      return
    }
    const { body } = this.pending
    this.pending = undefined
    this.writes++
    this.inFlight = this.write(body)
      .catch((error: unknown) => {
        // Refused (no permission, invalid, gone): asking again would be refused again.
        const status = (error as { status?: unknown } | null)?.status
        const refused = typeof status === 'number' && status >= 400 && status < 500
        if (refused) this.closed = true
        this.options.logger.warning(
          `Could not update the live status comment: ${errorMessage(error)}${refused ? '; no more live updates in this run, the final report is still written' : ''}`
        )
      })
      .finally(() => {
        this.lastEnd = this.clock.now()
        this.inFlight = undefined
        if (this.pending && !this.closed && this.writes < this.maxWrites) this.schedule()
        else this.pending = undefined
        if (!this.pending && !this.inFlight) for (const resolve of this.idle.splice(0)) resolve()
      })
  }
}

/**
 * Writes the status comment: the first write edits the comment an earlier run left (found by
 * its marker; `known` when the caller already looked) or creates one, later writes edit that
 * same comment. A comment deleted meanwhile is created again.
 */
export function statusCommentWriter(
  api: GitHubApi,
  issueNumber: number,
  logger: Logger,
  known?: CommentData[]
): {
  write(body: string): Promise<void>
  /** The comment written, with the body last written to it. */
  readonly comment?: { id: number; url: string; body: string }
} {
  let comment: { id: number; url: string; body: string } | undefined
  return {
    get comment() {
      return comment
    },
    async write(body: string) {
      const candidates = comment ? [{ ...comment, author: '', authorType: '' }] : known
      const written = await upsertStatusComment(api, issueNumber, body, logger, candidates)
      comment = { id: written.id, url: written.url, body }
    }
  }
}
