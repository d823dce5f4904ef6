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
  return removeHtmlComments(normalised)
}

function removeHtmlComments(text: string): string {
  if (!text.includes('<!--')) return text
  const code = codeRanges(text)
  const inCode = (offset: number): boolean =>
    code.some(([start, end]) => offset >= start && offset < end)

  let out = ''
  let copyFrom = 0
  let searchFrom = 0
  for (;;) {
    const open = text.indexOf('<!--', searchFrom)
    if (open === -1) break
    if (inCode(open)) {
      searchFrom = open + 4
      continue
    }
    out += text.slice(copyFrom, open)
    // From open + 2 so that `<!-->` and `<!--->` end where CommonMark ends them.
    const close = text.indexOf('-->', open + 2)
    if (close === -1) return out
    copyFrom = searchFrom = close + 3
  }
  return out + text.slice(copyFrom)
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
