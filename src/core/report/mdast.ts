// Building blocks of the reports. A report is a markdown tree (mdast), serialised by
// mdast-util-to-markdown with the GFM extensions: escaping is done by the serialiser, which knows
// where a character would start structure (a pipe in a table cell, `<` before a tag, a backtick
// run in code), so text that agents control can only ever be text. What the serialiser cannot
// know is handled here, where untrusted text becomes a node:
//
// - GitHub turns `@name` into a mention (it notifies) and `#123`, `GH-123` into cross-references
//   (they link back from that issue), however the text is escaped; and bare URLs into links. A
//   zero-width space after `@`, `#`, `GH-`, inside `://` and after `www` keeps them plain text.
//   Inside code spans and blocks GitHub does none of it.
// - A line ending inside a table cell or a heading ends it: untrusted text in phrasing is one line.
// - File names are shown as git shows them (quoted, with C escapes, when they hold control
//   characters), in code spans.
import type {
  BlockContent,
  Blockquote,
  Code,
  Heading,
  Html,
  InlineCode,
  Link,
  List,
  Paragraph,
  PhrasingContent,
  Root,
  RootContent,
  Strong,
  Table,
  TableCell,
  Text
} from 'mdast'
import { gfmToMarkdown } from 'mdast-util-gfm'
import { toMarkdown } from 'mdast-util-to-markdown'

/** Text we wrote ourselves (cross-references like "Closes #12" are meant). */
export function text(value: string): Text {
  return { type: 'text', value }
}

/**
 * Text from outside (agents, git, task titles): one line, at most `max` characters, with
 * mentions and cross-references broken up.
 */
export function untrusted(value: string, max = 120): Text {
  return { type: 'text', value: inertLine(value, max) }
}

export function inertLine(value: string, max = 120): string {
  let out = value.replace(/\s+/g, ' ').trim()
  if (out.length > max) {
    // Never between the two halves of a surrogate pair.
    const cut = /[\uD800-\uDBFF]/.test(out.charAt(max - 2)) ? max - 2 : max - 1
    out = `${out.slice(0, cut)}…`
  }
  return out
    .replace(/@/g, '@\u200b')
    .replace(/#(?=\d)/g, '#\u200b')
    .replace(/\b(GH-)(?=\d)/gi, '$1\u200b')
    .replace(/:\/\//g, ':\u200b//')
    .replace(/\b(www)\./gi, '$1\u200b.')
}

/** A code span; its content is literal (no mentions, no references), on one line. */
export function inline(value: string): InlineCode {
  return { type: 'inlineCode', value: value.replace(/[\r\n]+/g, ' ') }
}

/** A file name in a code span, quoted as git quotes it when it holds control characters. */
export function fileName(name: string): InlineCode {
  return inline(quotePath(name))
}

const C_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\v': '\\v',
  '\f': '\\f',
  '\r': '\\r',
  '"': '\\"',
  '\\': '\\\\'
}

/**
 * A path as `git` prints it with core.quotePath=false: unchanged, unless it holds a control
 * character, a double quote or a backslash; then in double quotes with C escapes (octal for
 * the control characters C has no letter for). Bidirectional overrides are escaped too, so a
 * name cannot reorder the text around it.
 */
export function quotePath(name: string): string {
  // eslint-disable-next-line no-control-regex
  const special = /[\x00-\x1f\x7f"\\\u202a-\u202e\u2066-\u2069]/g
  if (!special.test(name)) return name
  const escaped = name.replace(special, (c) => {
    const code = c.charCodeAt(0)
    if (C_ESCAPES[c]) return C_ESCAPES[c]
    return code > 0xff
      ? `\\u${code.toString(16).padStart(4, '0')}`
      : `\\${code.toString(8).padStart(3, '0')}`
  })
  return `"${escaped}"`
}

export function strong(...children: PhrasingContent[]): Strong {
  return { type: 'strong', children }
}

export function emphasis(...children: PhrasingContent[]): PhrasingContent {
  return { type: 'emphasis', children }
}

export function paragraph(...children: PhrasingContent[]): Paragraph {
  return { type: 'paragraph', children }
}

export function heading(depth: Heading['depth'], ...children: PhrasingContent[]): Heading {
  return { type: 'heading', depth, children }
}

export function link(url: string, ...children: PhrasingContent[]): Link {
  return { type: 'link', url, children }
}

/** A fenced code block: to-markdown makes the fence longer than any backtick run inside. */
export function code(value: string, lang?: string): Code {
  return { type: 'code', lang: lang ?? null, value }
}

/** Raw HTML: only ever our own markup (the hidden markers, `<details>`), never outside text. */
export function html(value: string): Html {
  return { type: 'html', value }
}

export function list(items: PhrasingContent[][]): List {
  return {
    type: 'list',
    ordered: false,
    spread: false,
    children: items.map((children) => ({
      type: 'listItem',
      spread: false,
      children: [paragraph(...children)]
    }))
  }
}

export function blockquote(...children: BlockContent[]): Blockquote {
  return { type: 'blockquote', children }
}

/** A GFM table; the first row is the header. */
export function table(rows: PhrasingContent[][][]): Table {
  return {
    type: 'table',
    align: rows[0]?.map(() => null) ?? [],
    children: rows.map((cells) => ({
      type: 'tableRow',
      children: cells.map((children): TableCell => ({ type: 'tableCell', children }))
    }))
  }
}

/** `<details>` around blocks, collapsed, with our own summary. */
export function details(summary: string, ...children: RootContent[]): RootContent[] {
  return [html(`<details><summary>${summary}</summary>`), ...children, html('</details>')]
}

/** Phrasing parts joined with a separator (", " between file names, say). */
export function joined(parts: PhrasingContent[][], separator: string): PhrasingContent[] {
  return parts.flatMap((part, i) => (i === 0 ? part : [text(separator), ...part]))
}

/** Markdown of a tree (or of blocks), as GitHub renders it. */
export function serialize(nodes: Root | RootContent[]): string {
  const root: Root = Array.isArray(nodes) ? { type: 'root', children: nodes } : nodes
  return toMarkdown(root, {
    extensions: [gfmToMarkdown({ tablePipeAlign: false })],
    bullet: '-',
    rule: '-',
    emphasis: '_',
    strong: '*',
    fence: '`',
    fences: true,
    listItemIndent: 'one'
  })
}
