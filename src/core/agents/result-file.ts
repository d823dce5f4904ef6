import type { AgentReport } from './presets/types.js'

/**
 * The JSON an agent may write to $TASK_RESULT_FILE (every field optional, others ignored):
 *
 *     { "summary": "Added the farewell function and its test.",
 *       "cost_usd": 0.042, "input_tokens": 12000, "output_tokens": 800,
 *       "model": "claude-sonnet-4-5", "turns": 6 }
 *
 * The file is written by the agent, so it is untrusted: wrong types are reported and dropped,
 * text is put on one line of printable characters and cut short, numbers must be finite and not negative.
 */
export const RESULT_FILE_FIELDS = {
  summary: 'one or two sentences: what the agent did',
  cost_usd: 'what its model calls cost, in US dollars',
  input_tokens: 'tokens sent to the model (cached ones included)',
  output_tokens: 'tokens the model produced',
  model: 'the model (or models, comma-separated)',
  turns: 'model round trips'
} as const

const MAX_SUMMARY = 500
const MAX_MODEL = 100

/** Reads a result file's text: the report, and what was wrong with it (empty when nothing). */
export function readResultFile(text: string): { report: AgentReport; problems: string[] } {
  const problems: string[] = []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { report: {}, problems: [`not JSON (${(error as Error).message})`] }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { report: {}, problems: ['not a JSON object'] }
  const data = value as Record<string, unknown>
  const report: AgentReport = {}
  const text_ = (key: string, max: number): string | undefined => {
    const v = data[key]
    if (v === undefined) return undefined
    if (typeof v !== 'string') {
      problems.push(`${key} is not a string`)
      return undefined
    }
    const clean = oneLine(v, max)
    return clean || undefined
  }
  const number_ = (key: string, whole: boolean): number | undefined => {
    const v = data[key]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (whole && !Number.isInteger(v))) {
      problems.push(`${key} is not a ${whole ? 'whole ' : ''}number of 0 or more`)
      return undefined
    }
    return v
  }
  const summary = text_('summary', MAX_SUMMARY)
  const model = text_('model', MAX_MODEL)
  const costUsd = number_('cost_usd', false)
  const inputTokens = number_('input_tokens', true)
  const outputTokens = number_('output_tokens', true)
  const turns = number_('turns', true)
  if (summary !== undefined) report.summary = summary
  if (costUsd !== undefined) report.costUsd = costUsd
  if (inputTokens !== undefined) report.inputTokens = inputTokens
  if (outputTokens !== undefined) report.outputTokens = outputTokens
  if (model !== undefined) report.model = model
  if (turns !== undefined) report.turns = turns
  return { report, problems }
}

/** The agent's own file first; what the preset read from the CLI's output fills the gaps. */
export function combineReports(
  fromFile: AgentReport | undefined,
  fromOutput: AgentReport | undefined
): AgentReport | undefined {
  const combined = { ...fromOutput, ...fromFile }
  return Object.keys(combined).length ? combined : undefined
}

// Control characters (but the line feed), and the invisible and bidirectional-override ones.
/* eslint-disable no-control-regex -- control characters are what it removes */
const INVISIBLE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g
/* eslint-enable no-control-regex */

/** The text on one line, without control or invisible characters, at most `max` long. */
function oneLine(text: string, max: number): string {
  const line = text
    .replace(INVISIBLE, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
