// Reads a report the way GitHub does (GFM), to check what a reader would see: its structure
// (headings, tables, lists, code blocks, raw HTML) and whether any text would mention someone.
import type { Nodes, Root } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmFromMarkdown } from 'mdast-util-gfm'
import { gfm } from 'micromark-extension-gfm'

export function parseMarkdown(markdown: string): Root {
  return fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] })
}

/** Every node of the tree, depth first. */
export function allNodes(node: Nodes): Nodes[] {
  return [node, ...('children' in node ? node.children.flatMap((c) => allNodes(c)) : [])]
}

/**
 * The shape of a report without its words: node types, heading depths, code languages, list and
 * table sizes (as children), and the raw HTML (our markers and `<details>`; the state block's
 * payload left out). Two reports with the same skeleton look alike but for the text in them.
 */
export function skeleton(node: Nodes, indent = ''): string {
  let line = `${indent}${node.type}`
  if (node.type === 'heading') line += ` ${node.depth}`
  if (node.type === 'code') line += ` ${node.lang ?? ''}`
  if (node.type === 'html')
    line += ` ${node.value
      .replace(/(agent-fanout:state )[A-Za-z0-9+/=]+/, '$1…')
      // Measured sizes (the disk-use summary) differ from run to run; the structure does not.
      .replace(/\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)\b/g, '… B')}`
  const children = 'children' in node ? node.children.map((c) => skeleton(c, `${indent}  `)) : []
  return [line, ...children].join('\n')
}

/** The raw HTML nodes of a report. */
export function htmlNodes(markdown: string): string[] {
  return allNodes(parseMarkdown(markdown)).flatMap((n) => (n.type === 'html' ? [n.value] : []))
}

/**
 * Text GitHub would turn into a mention (`@name` outside code), per text node. GitHub links
 * mentions itself after rendering, so the parsed text is searched, not the markdown.
 */
export function mentions(markdown: string): string[] {
  return allNodes(parseMarkdown(markdown)).flatMap((n) =>
    n.type === 'text' ? (n.value.match(/(?<![\w`])@[A-Za-z0-9][\w-]*/g) ?? []) : []
  )
}
