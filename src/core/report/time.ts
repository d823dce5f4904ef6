// Times and durations in reports, as people read them.

/**
 * A duration as people say it: "0.4 s", "12 s", "1 min 12 s", "2 h 5 min". Under ten seconds
 * with a tenth; the seconds go once it runs into hours.
 */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–'
  if (ms < 10_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`
  const h = Math.floor(m / 60)
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`
}

/** A clock time in UTC, as the runner's logs show it: "19:05:12 UTC". */
export function clockTime(at: number): string {
  return `${new Date(at).toISOString().slice(11, 19)} UTC`
}
