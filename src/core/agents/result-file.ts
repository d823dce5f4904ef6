import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { errorMessage } from '../util/errors.js'
import type { AgentPreset, AgentReport } from './presets/types.js'

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
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { report: {}, problems: [`not JSON (${(error as Error).message})`] }
  }
  return checkFields(value, RESULT_FILE_KEYS)
}

/** The file's key of each report field. */
const RESULT_FILE_KEYS: Record<keyof Omit<AgentReport, 'permissionDenials'>, string> = {
  summary: 'summary',
  costUsd: 'cost_usd',
  inputTokens: 'input_tokens',
  outputTokens: 'output_tokens',
  model: 'model',
  turns: 'turns'
}

const MAX_DENIALS = 20
const MAX_DENIAL = 200

/**
 * An AgentReport that crossed a trust boundary (a matrix task job's note or artifact, made next
 * to an agent): checked field by field as the result file is, wrong fields dropped. Undefined
 * when nothing is left.
 */
export function checkAgentReport(value: unknown): AgentReport | undefined {
  const { report } = checkFields(value, {
    summary: 'summary',
    costUsd: 'costUsd',
    inputTokens: 'inputTokens',
    outputTokens: 'outputTokens',
    model: 'model',
    turns: 'turns'
  })
  const denials = (value as { permissionDenials?: unknown } | null)?.permissionDenials
  if (Array.isArray(denials)) {
    const lines = denials
      .filter((d): d is string => typeof d === 'string')
      .map((d) => oneLine(d, MAX_DENIAL))
      .filter(Boolean)
      .slice(0, MAX_DENIALS)
    if (lines.length) report.permissionDenials = lines
  }
  return Object.keys(report).length ? report : undefined
}

/** The fields of an untrusted object, read under the keys `keys` names. */
function checkFields(
  value: unknown,
  keys: typeof RESULT_FILE_KEYS
): { report: AgentReport; problems: string[] } {
  const problems: string[] = []
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
  const summary = text_(keys.summary, MAX_SUMMARY)
  const model = text_(keys.model, MAX_MODEL)
  const costUsd = number_(keys.costUsd, false)
  const inputTokens = number_(keys.inputTokens, true)
  const outputTokens = number_(keys.outputTokens, true)
  const turns = number_(keys.turns, true)
  if (summary !== undefined) report.summary = summary
  if (costUsd !== undefined) report.costUsd = costUsd
  if (inputTokens !== undefined) report.inputTokens = inputTokens
  if (outputTokens !== undefined) report.outputTokens = outputTokens
  if (model !== undefined) report.model = model
  if (turns !== undefined) report.turns = turns
  return { report, problems }
}

/**
 * The report of one agent start: what the preset read from the CLI's own output, and the
 * agent's $TASK_RESULT_FILE, field by field. The CLI's figures (cost, tokens, model, turns,
 * refused tool calls) win: the file can be written by the model's own tool calls, which issue
 * text may steer ("write a cost of 0" would slip past max-cost-usd), while the CLI's output is
 * its own accounting. The file's summary wins: a wrapper script that writes one knows better
 * than the CLI's last message. Each fills the other's gaps; free-form agents only have the file.
 */
export function combineReports(
  fromFile: AgentReport | undefined,
  fromOutput: AgentReport | undefined
): AgentReport | undefined {
  const output = { ...fromOutput }
  if (output.summary !== undefined) {
    const summary = oneLine(output.summary, MAX_SUMMARY)
    if (summary) output.summary = summary
    else delete output.summary
  }
  if (output.model !== undefined) output.model = oneLine(output.model, MAX_MODEL)
  const combined: AgentReport = { ...fromFile, ...output }
  if (fromFile?.summary !== undefined) combined.summary = fromFile.summary
  return Object.keys(combined).length ? combined : undefined
}

/** Largest result file read; a bigger one is reported and ignored. */
export const MAX_RESULT_FILE_BYTES = 64 * 1024
/** How much of the end of a log a preset reads its CLI's report from. */
export const LOG_TAIL_FOR_REPORT = 8 * 1024 * 1024

/**
 * After an agent ends: its $TASK_RESULT_FILE (when it wrote one: a regular file, not a link,
 * at most 64 KiB) and, with a preset, what the CLI printed (the last 8 MiB of its log), combined
 * by combineReports. `problems` says what was wrong with the file, for the log.
 */
export async function readAgentReport(options: {
  resultFile: string
  logFile: string
  preset?: Pick<AgentPreset, 'parseResult'>
}): Promise<{ report?: AgentReport; problems: string[] }> {
  const problems: string[] = []
  let fromFile: AgentReport | undefined
  const text = await readSmallFile(options.resultFile, MAX_RESULT_FILE_BYTES).catch(
    (error: unknown) => {
      problems.push(errorMessage(error))
      return undefined
    }
  )
  if (text !== undefined) {
    const read = readResultFile(text)
    fromFile = read.report
    problems.push(...read.problems)
  }
  let fromOutput: AgentReport | undefined
  if (options.preset) {
    const log = await readTail(options.logFile, LOG_TAIL_FOR_REPORT).catch(() => '')
    try {
      fromOutput = options.preset.parseResult(log)
    } catch (error) {
      problems.push(`its output could not be read: ${errorMessage(error)}`)
    }
  }
  const report = combineReports(fromFile, fromOutput)
  return { ...(report ? { report } : {}), problems }
}

/** The file's text, or undefined when there is none; throws when it is not one to read. */
async function readSmallFile(file: string, max: number): Promise<string | undefined> {
  let handle: FileHandle
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new Error(`$TASK_RESULT_FILE could not be opened (${errorMessage(error)})`)
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw new Error('$TASK_RESULT_FILE is not a regular file')
    if (info.size > max)
      throw new Error(`$TASK_RESULT_FILE is ${info.size} bytes, more than the ${max} read`)
    return (await handle.readFile()).toString('utf8')
  } finally {
    await handle.close()
  }
}

/** The last `max` bytes of a file as text (a character cut at the start is dropped). */
async function readTail(file: string, max: number): Promise<string> {
  const handle = await open(file, 'r')
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, max)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    return buffer.toString('utf8')
  } finally {
    await handle.close()
  }
}

// Control characters (but the line feed), and the invisible and bidirectional-override ones.
/* eslint-disable no-control-regex -- control characters are what it removes */
const INVISIBLE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g
/* eslint-enable no-control-regex */

/** The text on one line, without control or invisible characters, at most `max` long. */
export function oneLine(text: string, max: number): string {
  const line = text
    .replace(INVISIBLE, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ')
    .trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}
