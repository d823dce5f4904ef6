import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Spaces agent starts at least `intervalMs` apart (input start-interval-seconds), so that eight
 * agents do not send their first requests to an API in the same second. Each caller reserves the
 * next free start time in call order and waits for it; a cancelled wait returns at once (the
 * caller then sees its signal aborted). An interval of 0 lets everything start at once.
 */
export class StartPacer {
  private next = 0

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void> = (ms, signal) =>
      sleep(ms, undefined, { signal })
  ) {}

  /** Resolves when this start may go ahead; returns how long it waited (ms). */
  async turn(signal?: AbortSignal): Promise<number> {
    if (this.intervalMs <= 0) return 0
    const now = this.now()
    const at = Math.max(now, this.next)
    this.next = at + this.intervalMs
    const delay = at - now
    if (delay > 0) await this.wait(delay, signal).catch(() => undefined)
    return delay
  }
}
