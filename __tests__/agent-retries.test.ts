// Retries of agents that failed for a passing reason, pacing of starts, the cost cap: the
// pieces the engine's per-task attempt loop is made of.
import { describe, expect, it } from '@jest/globals'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { getInputs } from '../src/action/inputs.js'
import { backoffMs, withRetries, type AttemptOutcome } from '../src/core/agents/attempts.js'
import { addReports, CostBudget, formatUsd } from '../src/core/agents/budget.js'
import { StartPacer } from '../src/core/agents/pacing.js'
import { PRESETS } from '../src/core/agents/presets/index.js'
import { retryAfterIn, transientFailure } from '../src/core/agents/transient.js'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-output')
const fixture = (name: string): Promise<string> => readFile(path.join(FIXTURES, name), 'utf8')
const failedWith = (exitCode: number | null) => ({ exitCode, timedOut: false, cancelled: false })

describe('transientFailure', () => {
  it("reads each real CLI's 429 as a rate limit", async () => {
    const claude = await fixture('claude-code-2.1.332-429.jsonl')
    expect(transientFailure(failedWith(1), claude, PRESETS.get('claude-code'))).toEqual({
      cause: 'rate limited by the model API (429)'
    })
    const codex = await fixture('codex-0.171.0-429.jsonl')
    expect(transientFailure(failedWith(1), codex, PRESETS.get('codex'))).toEqual({
      cause: 'rate limited by the model API (429)'
    })
  })

  it('calls other failures of the same CLI not transient', async () => {
    const denied = await fixture('claude-code-2.1.332-denied.jsonl')
    expect(transientFailure(failedWith(1), denied, PRESETS.get('claude-code'))).toBeUndefined()
    expect(
      transientFailure(failedWith(2), 'Error: no such file', PRESETS.get('codex'))
    ).toBeUndefined()
  })

  it('never retries a success, a timeout, a cancellation, a signal or a full disk', async () => {
    const log = await fixture('codex-0.171.0-429.jsonl')
    const codex = PRESETS.get('codex')
    expect(transientFailure(failedWith(0), log, codex)).toBeUndefined()
    expect(transientFailure(failedWith(null), log, codex)).toBeUndefined()
    expect(transientFailure({ ...failedWith(1), timedOut: true }, log, codex)).toBeUndefined()
    expect(transientFailure({ ...failedWith(1), cancelled: true }, log, codex)).toBeUndefined()
    expect(transientFailure({ ...failedWith(1), noSpace: {} }, log, codex)).toBeUndefined()
  })

  it('takes exit status 75 from any command, and a Retry-After it printed', () => {
    expect(transientFailure(failedWith(75), 'quota: try later')).toEqual({
      cause: 'exit status 75 (temporary failure)'
    })
    expect(transientFailure(failedWith(75), 'HTTP 429\nRetry-After: 7')).toEqual({
      cause: 'exit status 75 (temporary failure)',
      retryAfterMs: 7000
    })
    // A free-form command's words are not read: only its exit status counts.
    expect(transientFailure(failedWith(1), '429 Too Many Requests')).toBeUndefined()
  })

  it('reads only the end of the log: talk of rate limits while working is no cause', () => {
    const working = `implementing rate limiting (429 Too Many Requests)\n${'x'.repeat(20_000)}\nError: tests fail`
    expect(transientFailure(failedWith(1), working, PRESETS.get('codex'))).toBeUndefined()
  })

  it('finds Retry-After in its usual spellings, the last one, capped at ten minutes', () => {
    expect(retryAfterIn('retry-after: 3')).toBe(3000)
    expect(retryAfterIn('{"retry_after": 2.5}')).toBe(2500)
    expect(retryAfterIn('Retry-After: 1\nRetry-After=4')).toBe(4000)
    expect(retryAfterIn('retry after: 99999')).toBe(600_000)
    expect(retryAfterIn('no hint')).toBeUndefined()
  })
})

describe('backoffMs', () => {
  const cause = { cause: 'rate limited' }
  it('doubles from the base with equal jitter, up to the maximum', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 3000 }
    expect(backoffMs(1, cause, { ...policy, random: () => 0 })).toBe(500)
    expect(backoffMs(1, cause, { ...policy, random: () => 0.999999 })).toBe(1000)
    expect(backoffMs(2, cause, { ...policy, random: () => 0 })).toBe(1000)
    expect(backoffMs(3, cause, { ...policy, random: () => 0 })).toBe(1500)
    expect(backoffMs(9, cause, { ...policy, random: () => 0.5 })).toBe(2250)
  })

  it('waits what a Retry-After asked for, plus under a second of jitter', () => {
    const policy = { maxAttempts: 2, baseDelayMs: 60_000, random: () => 0.5 }
    expect(backoffMs(1, { cause: 'x', retryAfterMs: 2000 }, policy)).toBe(2500)
  })
})

describe('withRetries', () => {
  const waits: number[] = []
  const wait = async (ms: number): Promise<void> => {
    waits.push(ms)
  }
  const script =
    (outcomes: AttemptOutcome<string>[]) =>
    async (n: number): Promise<AttemptOutcome<string>> =>
      outcomes[n - 1]
  const limited = (n: number): AttemptOutcome<string> => ({
    value: `try ${n}`,
    outcome: 'rate limited by the model API (429)',
    transient: { cause: 'rate limited by the model API (429)' }
  })

  it('tries again after a transient failure, and stops at the first success', async () => {
    waits.length = 0
    const result = await withRetries(
      { maxAttempts: 3, baseDelayMs: 100, random: () => 0 },
      script([limited(1), { value: 'done', outcome: 'succeeded' }, limited(3)]),
      { wait }
    )
    expect(result).toEqual({
      value: 'done',
      tries: [
        { attempt: 1, outcome: 'rate limited by the model API (429)' },
        { attempt: 2, outcome: 'succeeded' }
      ]
    })
    expect(waits).toEqual([50])
  })

  it('does not retry a failure that is not transient', async () => {
    const result = await withRetries(
      { maxAttempts: 3 },
      script([{ value: 'broken', outcome: 'exited with status 1' }]),
      { wait }
    )
    expect(result.tries).toHaveLength(1)
    expect(result.stopped).toBeUndefined()
  })

  it('stops at max-attempts and says so', async () => {
    const result = await withRetries(
      { maxAttempts: 2, baseDelayMs: 1 },
      script([limited(1), limited(2)]),
      { wait }
    )
    expect(result.value).toBe('try 2')
    expect(result.tries.map((t) => t.attempt)).toEqual([1, 2])
    expect(result.stopped).toBe('not retried: 2 of max-attempts 2 were used')
  })

  it('starts no retry once the cost cap refuses, or the run is stopped', async () => {
    const capped = await withRetries(
      { maxAttempts: 5, baseDelayMs: 1 },
      script([limited(1), limited(2)]),
      { wait, refusal: () => 'the cap' }
    )
    expect([capped.tries.length, capped.stopped]).toEqual([1, 'not retried: the cap'])
    const controller = new AbortController()
    controller.abort()
    const stopped = await withRetries({ maxAttempts: 5 }, script([limited(1)]), {
      wait,
      signal: controller.signal
    })
    expect(stopped.stopped).toBe('not retried: the run was stopped')
  })
})

describe('StartPacer', () => {
  it('spaces starts by the interval in call order', async () => {
    let clock = 1000
    const waited: number[] = []
    const pacer = new StartPacer(
      500,
      () => clock,
      async (ms) => {
        waited.push(ms)
      }
    )
    expect(await Promise.all([pacer.turn(), pacer.turn(), pacer.turn()])).toEqual([0, 500, 1000])
    clock = 5000
    expect(await pacer.turn()).toBe(0)
    expect(waited).toEqual([500, 1000])
  })

  it('lets everything start at once with no interval', async () => {
    const pacer = new StartPacer(0)
    expect(await Promise.all([pacer.turn(), pacer.turn()])).toEqual([0, 0])
  })
})

describe('CostBudget and addReports', () => {
  it('refuses starts once the reported spend reaches the cap', () => {
    const budget = new CostBudget(0.05)
    budget.record({ costUsd: 0.03 })
    budget.record({ inputTokens: 5 })
    expect(budget.refusal()).toBeUndefined()
    budget.record({ costUsd: 0.02 })
    expect(budget.refusal()).toBe("the run's reported spend $0.0500 reached max-cost-usd $0.0500")
    expect(new CostBudget().refusal()).toBeUndefined()
  })

  it('adds the attempts of a task: figures summed, the later words kept', () => {
    expect(
      addReports(
        { costUsd: 0.1, inputTokens: 10, summary: 'gave up', permissionDenials: ['Bash: a'] },
        { costUsd: 0.2, inputTokens: 5, outputTokens: 3, summary: 'done', model: 'm' }
      )
    ).toEqual({
      costUsd: 0.3,
      inputTokens: 15,
      outputTokens: 3,
      summary: 'done',
      model: 'm',
      permissionDenials: ['Bash: a']
    })
    expect(addReports(undefined, { turns: 1 })).toEqual({ turns: 1 })
    expect(formatUsd(12.345)).toBe('$12.35')
  })
})

describe('inputs max-attempts, start-interval-seconds, max-cost-usd', () => {
  const read =
    (values: Record<string, string>) =>
    (name: string): string =>
      ({ 'github-token': 'tok', 'agent-command': './agent.sh', ...values })[name] ?? ''

  it('default to two attempts, no pacing, no cap', () => {
    expect(getInputs(read({}), {})).toMatchObject({
      maxAttempts: 2,
      startIntervalMs: 0,
      maxCostUsd: undefined
    })
  })

  it('read what the workflow sets', () => {
    expect(
      getInputs(
        read({ 'max-attempts': '3', 'start-interval-seconds': '1.5', 'max-cost-usd': '2.50' }),
        {}
      )
    ).toMatchObject({ maxAttempts: 3, startIntervalMs: 1500, maxCostUsd: 2.5 })
  })

  it('refuse bad values, naming the input', () => {
    expect(() => getInputs(read({ 'max-attempts': '0' }), {})).toThrow(
      'Input max-attempts must be a whole number from 1 to 10, got "0".'
    )
    expect(() => getInputs(read({ 'start-interval-seconds': '-1' }), {})).toThrow(
      'Input start-interval-seconds must be a number of 0 or more, got "-1".'
    )
    expect(() => getInputs(read({ 'max-cost-usd': '$5' }), {})).toThrow(
      'Input max-cost-usd must be a positive number, got "$5".'
    )
  })
})
