// Strips from issue text what a reader of the rendered issue cannot see but an agent would read,
// so nobody can hide instructions for the agent in an issue:
// - HTML comments (`<!-- ... -->`, and an unterminated `<!--` up to the end of the text), except
//   inside fenced/indented code blocks and inline code, where GitHub shows them as text. Code is
//   found with the same markdown parser the task list uses.
// - Zero-width and invisible characters (U+200B-U+200D, U+2060-U+2064, U+FEFF, U+00AD, U+180E)
//   and Unicode tag characters (U+E0000-U+E007F, invisible "ASCII smuggling").
// - Bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C).
// - C0/C1 control characters other than tab and line endings.
// Line endings are normalised to LF (CRLF and lone CR).

import type { Nodes } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmFromMarkdown } from 'mdast-util-gfm'
import { gfm } from 'micromark-extension-gfm'

const HIDDEN_CHARACTERS = new RegExp(
  [
    '[\\u200B-\\u200D\\u2060-\\u2064\\uFEFF\\u00AD\\u180E]',
    '[\\u202A-\\u202E\\u2066-\\u2069\\u200E\\u200F\\u061C]',
    '[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]',
    '[\\u{E0000}-\\u{E007F}]'
  ].join('|'),
  'gu'
)

export function sanitizeIssueText(text: string): string {
  const normalised = text.replace(/\r\n?/g, '\n').replace(HIDDEN_CHARACTERS, '')
  return keptText(normalised, commentRanges(normalised))
}

/**
 * The sanitised text and, for each of its characters, the offset in `text` it came from (a
 * line ending's LF, or its lone CR): a position found in the sanitised text (a task's checkbox)
 * can be edited in the text as written.
 */
export function sanitizeWithOffsets(text: string): { text: string; rawOffsets: number[] } {
  let normalised = ''
  const fromRaw: number[] = []
  const pattern = new RegExp(`\\r\\n|\\r|${HIDDEN_CHARACTERS.source}`, 'gu')
  let copyFrom = 0
  const copy = (end: number): void => {
    for (let i = copyFrom; i < end; i++) fromRaw.push(i)
    normalised += text.slice(copyFrom, end)
  }
  for (const match of text.matchAll(pattern)) {
    copy(match.index)
    if (match[0].startsWith('\r')) {
      normalised += '\n'
      fromRaw.push(match.index + match[0].length - 1)
    }
    copyFrom = match.index + match[0].length
  }
  copy(text.length)
  const removed = commentRanges(normalised)
  const rawOffsets = fromRaw.filter((_, i) => !removed.some(([s, e]) => i >= s && i < e))
  return { text: keptText(normalised, removed), rawOffsets }
}

function keptText(text: string, removed: [number, number][]): string {
  let out = ''
  let from = 0
  for (const [start, end] of removed) {
    out += text.slice(from, start)
    from = end
  }
  return out + text.slice(from)
}

/** [start, end) of the HTML comments outside code (an unterminated one runs to the end). */
function commentRanges(text: string): [number, number][] {
  if (!text.includes('<!--')) return []
  const code = codeRanges(text)
  const inCode = (offset: number): boolean =>
    code.some(([start, end]) => offset >= start && offset < end)

  const ranges: [number, number][] = []
  let searchFrom = 0
  for (;;) {
    const open = text.indexOf('<!--', searchFrom)
    if (open === -1) break
    if (inCode(open)) {
      searchFrom = open + 4
      continue
    }
    // From open + 2 so that `<!-->` and `<!--->` end where CommonMark ends them.
    const close = text.indexOf('-->', open + 2)
    if (close === -1) {
      ranges.push([open, text.length])
      break
    }
    ranges.push([open, close + 3])
    searchFrom = close + 3
  }
  return ranges
}

/** [start, end) offsets of code blocks and inline code, where `<!--` is visible text. */
function codeRanges(text: string): [number, number][] {
  const tree = fromMarkdown(text, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] })
  const ranges: [number, number][] = []
  const walk = (node: Nodes): void => {
    if (node.type === 'code' || node.type === 'inlineCode') {
      const start = node.position?.start.offset
      const end = node.position?.end.offset
      if (start !== undefined && end !== undefined) ranges.push([start, end])
      return
    }
    if ('children' in node) for (const child of node.children) walk(child)
  }
  walk(tree)
  return ranges
}
