export type JsonRecord = Record<string, unknown>

/** The JSON objects among a log's lines (CLIs print one event per line); other lines skipped. */
export function jsonLines(log: string): JsonRecord[] {
  const events: JsonRecord[] = []
  for (const line of log.split('\n')) {
    const text = line.trim()
    if (!text.startsWith('{')) continue
    try {
      const value: unknown = JSON.parse(text)
      if (value && typeof value === 'object' && !Array.isArray(value))
        events.push(value as JsonRecord)
    } catch {
      // A line that only looks like JSON (or was cut short): not an event.
    }
  }
  return events
}
