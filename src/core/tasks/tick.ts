// Ticks the boxes of done tasks in an issue body, the way a person would: only the character
// between the brackets of each task's own checkbox changes, everything else stays byte for byte
// (other people's edits, spacing, line endings, hidden comments). The checkbox is found with
// the markdown tree, exactly as the task list is read (parse.ts), and its offset mapped back
// from the sanitised text to the text as written (sanitize.ts): never a pattern over the body.

import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmFromMarkdown } from 'mdast-util-gfm'
import { gfm } from 'micromark-extension-gfm'
import type { Task } from '../types.js'
import { parseTaskList, topLevelTaskItems } from './parse.js'
import { sanitizeWithOffsets } from './sanitize.js'

/** A task to tick, as the run read it: ticked only if the body still holds it unchanged. */
export interface TickRequest {
  id: string
  title: string
  body: string
  /** Clear the box instead (the task's work left the integration branch). */
  untick?: boolean
}

export interface TickOutcome {
  /** The new body (the same string when nothing was ticked). */
  body: string
  ticked: string[]
  /** Tasks left as they are, and why. */
  left: { id: string; why: string }[]
}

export function tickTasks(raw: string, wanted: TickRequest[]): TickOutcome {
  const before = parseTaskList(raw).tasks
  const { text, rawOffsets } = sanitizeWithOffsets(raw)
  const tree = fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] })
  const items = topLevelTaskItems(tree)
  const ticked: string[] = []
  const left: TickOutcome['left'] = []
  const chars = [...raw.split('')]
  for (const request of wanted) {
    const index = before.findIndex((t) => t.id === request.id)
    const task = before[index]
    if (!task) {
      left.push({ id: request.id, why: 'no longer in the task list' })
      continue
    }
    if (task.checked !== !!request.untick) continue
    if (task.title !== request.title || task.body !== request.body) {
      left.push({ id: request.id, why: 'its text changed since the run read it' })
      continue
    }
    const inner = checkboxOffset(text, items[index], !!request.untick)
    const at = inner === undefined ? undefined : rawOffsets[inner]
    if (at === undefined || !(request.untick ? /^[xX]$/ : /^[ \t]$/).test(raw[at])) {
      left.push({ id: request.id, why: 'its checkbox could not be found' })
      continue
    }
    chars[at] = request.untick ? ' ' : 'x'
    ticked.push(request.id)
  }
  const body = ticked.length ? chars.join('') : raw
  const untick = new Set(wanted.filter((w) => w.untick).map((w) => w.id))
  assertOnlyTicked(before, parseTaskList(body).tasks, ticked, untick)
  return { body, ticked, left }
}

/** Offset (in the sanitised text) of what is between a task item's brackets. */
function checkboxOffset(
  text: string,
  item: ReturnType<typeof topLevelTaskItems>[number] | undefined,
  checked: boolean
): number | undefined {
  const start = item?.position?.start.offset
  const first = item?.children[0]
  const end = first?.position?.start.offset
  if (start === undefined || end === undefined) return undefined
  const box = (checked ? /\[[xX]\]/ : /\[[ \t]\]/).exec(text.slice(start, end))
  return box ? start + box.index + 1 : undefined
}

/** The edit changed nothing but the checked state of the ticked tasks (else it is not made). */
function assertOnlyTicked(
  before: Task[],
  after: Task[],
  ticked: string[],
  untick: Set<string>
): void {
  const same =
    before.length === after.length &&
    before.every((b, i) => {
      const a = after[i]
      const checked = ticked.includes(b.id) ? !untick.has(b.id) : b.checked
      return a.id === b.id && a.title === b.title && a.body === b.body && a.checked === checked
    })
  if (!same)
    throw new Error(
      `Ticking ${ticked.join(', ')} would have changed more than their checkboxes; the issue body was left as it is.`
    )
}
