import type { AgentReport } from './presets/types.js'

/**
 * The run's reported spend against `max-cost-usd`. Agents report their cost when they end, so
 * the cap stops further starts, not agents already running: the run can end above the cap by
 * what the agents running at that moment spend (at most max-parallel of them).
 */
export class CostBudget {
  private spentUsd = 0

  constructor(readonly maxUsd?: number) {}

  get spent(): number {
    return this.spentUsd
  }

  record(report: AgentReport | undefined): void {
    if (report?.costUsd !== undefined) this.spentUsd += report.costUsd
  }

  /** Why no further agent may start (the cap is reached), or undefined. */
  refusal(): string | undefined {
    if (this.maxUsd === undefined || this.spentUsd < this.maxUsd) return undefined
    return `the run's reported spend ${formatUsd(this.spentUsd)} reached max-cost-usd ${formatUsd(this.maxUsd)}`
  }
}

/** Dollars as people read them: 4 decimals below $1 (agent calls cost cents), else 2. */
export function formatUsd(usd: number): string {
  return `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`
}

/**
 * Two reports of the same task added up (its attempts, or its agent and a re-run): cost, tokens
 * and turns are summed, as each start was billed; the later one's words (summary, model) stand;
 * refused tool calls of both are kept.
 */
export function addReports(
  earlier: AgentReport | undefined,
  later: AgentReport | undefined
): AgentReport | undefined {
  if (!earlier) return later
  if (!later) return earlier
  const sum = (key: 'costUsd' | 'inputTokens' | 'outputTokens' | 'turns'): number | undefined =>
    earlier[key] === undefined && later[key] === undefined
      ? undefined
      : (earlier[key] ?? 0) + (later[key] ?? 0)
  const combined: AgentReport = { ...earlier, ...later }
  for (const key of ['costUsd', 'inputTokens', 'outputTokens', 'turns'] as const) {
    const value = sum(key)
    if (value !== undefined) combined[key] = key === 'costUsd' ? roundUsd(value) : value
  }
  const denials = [...(earlier.permissionDenials ?? []), ...(later.permissionDenials ?? [])]
  if (denials.length) combined.permissionDenials = denials
  return combined
}

/** Sums of floating-point dollars, rounded to a millionth of a cent (no 0.30000000000000004). */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e8) / 1e8
}
