// Turns an issue body into tasks. Users depend on these rules:
//
// - The text is sanitised first (sanitize.ts: hidden comments and invisible characters go) and
//   parsed as GitHub-flavoured markdown. A task is a top-level task list item (`- [ ]`, `* [x]`,
//   `1. [ ]`): an item of a list that is not inside another list item, a blockquote or a footnote.
//   Nested task items belong to their parent's body. Code blocks, HTML comments and whatever sits
//   between `<details>` and its matching `</details>` are ignored.
// - Checked items are returned too (`checked: true`) and count in positions, so ticking a box
//   never changes another task's ID.
// - Title: the first line of the item's first paragraph as written (markdown), whitespace collapsed.
//   Body: the rest of the item (further lines, sub-lists, code...) as markdown from the source,
//   de-indented; may be empty.
// - Explicit ID: at the very start of the item, `T1: title`, `[T1] title`, `**T1** title`,
//   `**T1:** title`, `**T1**: title`, `` `T1` title `` or `` `T1`: title ``. An ID is 1-32 letters,
//   digits, `_` or `-`, starts with a letter and contains a digit (`Fix: x` is a title). It is
//   removed from the title and kept as written.
// - Otherwise the ID is `T<position>`, position being the 1-based index among all top-level task
//   items. IDs must be unique ignoring case; an empty title is an error too (TaskListError).
// - An item whose title is just `#123` is a reference to issue 123 (`reference.issueNumber`).
// - `(after T1, T2)` ending the first line and `depends on: T1` lines nested in the item fill
//   `dependsOn` (rules and checks in dependencies.ts); the clause is removed from the title.
// - A nested `paths:` line fills `paths`: the directories its worktree shows (paths.ts).

import type { ListItem, Paragraph, PhrasingContent, Root } from 'mdast'
import { fromMarkdown } from 'mdast-util-from-markdown'
import { gfmFromMarkdown } from 'mdast-util-gfm'
import { toString } from 'mdast-util-to-string'
import { gfm } from 'micromark-extension-gfm'
import type { Task } from '../types.js'
import { UserError } from '../util/errors.js'
import {
  afterClause,
  DependencyError,
  dependsOnLines,
  resolveDependencies
} from './dependencies.js'
import { taskPaths } from './paths.js'
import { sanitizeIssueText } from './sanitize.js'

/** The task list cannot be used as written; the message tells the user what to change. */
export class TaskListError extends UserError {
  constructor(message: string) {
    super(message)
    this.name = 'TaskListError'
  }
}

export interface ParsedTaskList {
  /** All top-level task items in document order, checked ones included. */
  tasks: Task[]
}

/** Markdown explaining the expected syntax, for the "no tasks found" comment. */
export const TASK_SYNTAX_HELP = [
  'Write the tasks as a task list in the issue body, one top-level item per task:',
  '',
  '```markdown',
  '- [ ] T1: Add a login form',
  '  Anything nested under an item is passed to the agent with it:',
  '  - validate the e-mail address',
  '  - [ ] nested checkboxes are details, not separate tasks',
  '- [ ] Add a logout button',
  '- [ ] #123',
  '```',
  '',
  "- `T1:` (or `[T1]`, `**T1**`, `` `T1` ``) gives a task an explicit ID; an ID starts with a letter and contains a digit. Without one, the ID is `T` plus the item's position (`T2` above).",
  '- `- [ ] #123` takes the task from issue #123.',
  '- Checked items (`- [x]`) are done and are not run, but keep their position.',
  '- Ignored: lists inside quotes, code blocks, HTML comments and `<details>` sections.'
].join('\n')

const ID = '[A-Za-z][A-Za-z0-9_-]{0,31}'
const BOLD_ID = new RegExp(`^(${ID})(:?)$`)
const CODE_ID = new RegExp(`^(${ID})$`)
const COLON_ID = new RegExp(`^(${ID}):(?:\\s+|$)`)
const BRACKET_ID = new RegExp(`^\\[(${ID})\\](?:\\s+|$)`)

export function parseTaskList(markdown: string): ParsedTaskList {
  const source = sanitizeIssueText(markdown)
  const tree = fromMarkdown(source, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] })
  const tasks = asTaskListError(() =>
    topLevelTaskItems(tree).map((item, index) => toTask(item, index + 1, source))
  )
  assertUniqueIds(tasks)
  asTaskListError(() => resolveDependencies(tasks))
  return { tasks }
}

/** Task items of the lists directly under the root, outside `<details>` sections. */
export function topLevelTaskItems(tree: Root): ListItem[] {
  const items: ListItem[] = []
  let detailsDepth = 0
  for (const node of tree.children) {
    if (node.type === 'html') {
      detailsDepth = updateDetailsDepth(node.value, detailsDepth)
    } else if (node.type === 'list' && detailsDepth === 0) {
      items.push(...node.children.filter((item) => typeof item.checked === 'boolean'))
    }
  }
  return items
}

function updateDetailsDepth(html: string, depth: number): number {
  for (const match of html.matchAll(/<(\/?)details(?=[\s>/]|$)/gi)) {
    depth = match[1] ? Math.max(0, depth - 1) : depth + 1
  }
  return depth
}

function toTask(item: ListItem, position: number, source: string): Task {
  const first = item.children[0]
  const paragraph = first?.type === 'paragraph' ? first : undefined
  const paragraphStart = paragraph?.position?.start.offset ?? itemStart(item)
  const lineEnd = lineEndAt(source, paragraphStart)

  const head = paragraph ? splitId(paragraph, lineEnd, source) : { title: '' }
  // `(after T1)` ends the line: a dependency, not part of the title (dependencies.ts).
  const after = paragraph ? afterClause(paragraph, lineEnd, source) : undefined
  const written = after
    ? head.title.slice(0, head.title.length - (lineEnd - after.from))
    : head.title
  const title = written.replace(/\s+/g, ' ').trim()
  const id = head.id ?? `T${position}`
  if (title === '') {
    const what = head.id ? `has no title after its ID "${head.id}"` : 'has no title'
    throw new TaskListError(
      `Task item ${position} ${what}. Write the title on the checkbox line, e.g. "- [ ] T1: Add a login form".`
    )
  }

  const task: Task = {
    id,
    idSource: head.id ? 'explicit' : 'position',
    position,
    title,
    body: itemBody(item, source, lineEnd),
    checked: item.checked === true
  }
  const dependsOn = [
    ...(after?.ids ?? []),
    ...dependsOnLines(item, () => `Task ${id} (item ${position})`)
  ]
  if (dependsOn.length > 0) task.dependsOn = dependsOn
  const reference = /^#(\d+)$/.exec(title)
  const issueNumber = reference ? Number(reference[1]) : 0
  if (Number.isSafeInteger(issueNumber) && issueNumber > 0) task.reference = { issueNumber }
  const paths = withTaskListError(() => taskPaths(item, () => `Task ${id} (item ${position})`))
  if (paths.length > 0) task.paths = paths
  return task
}

/** A bad `paths:` line is the task list's error: the user fixes it in the issue. */
function withTaskListError<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw new TaskListError(error instanceof Error ? error.message : String(error))
  }
}

/**
 * The paragraph's first source line, with an explicit ID split off when present. The title is
 * the markdown as written (backticks, quotes and `$(...)` included): agents get it literally.
 */
function splitId(
  paragraph: Paragraph,
  lineEnd: number,
  source: string
): { id?: string; title: string } {
  const [head, ...rest] = paragraph.children
  if (!head) return { title: '' }
  const from = head.position?.start.offset ?? 0
  const line = source.slice(from, lineEnd)

  if (head.type === 'strong' || head.type === 'inlineCode') {
    const match = (head.type === 'strong' ? BOLD_ID : CODE_ID).exec(toString(head))
    if (match && isId(match[1]) && endOffset(head) <= lineEnd) {
      const after = source.slice(endOffset(head), lineEnd)
      const separator = /^(:?)(\s*)/.exec(after) ?? ['', '', '']
      // Something must separate the ID from the title: `**T1**title` is just a bold word.
      if (match[2] || separator[0] || firstLineText(rest, lineEnd).trim() === '') {
        return { id: match[1], title: after.slice(separator[0].length) }
      }
    }
  } else if (head.type === 'text') {
    const headLine = head.value.split('\n')[0]
    const match = COLON_ID.exec(headLine) ?? BRACKET_ID.exec(headLine)
    if (match && isId(match[1]) && line.startsWith(match[0].trimEnd())) {
      return { id: match[1], title: line.slice(match[0].length) }
    }
  }
  return { title: line }
}

function isId(token: string): boolean {
  return /\d/.test(token)
}

/**
 * Plain text of the phrasing nodes up to `lineEnd` (the end of the paragraph's first source
 * line). A soft line break (`\n` in a text value) or a hard break also ends the line.
 */
function firstLineText(nodes: PhrasingContent[], lineEnd: number): string {
  let out = ''
  const visit = (list: PhrasingContent[]): boolean => {
    for (const node of list) {
      if ((node.position?.start.offset ?? 0) >= lineEnd || node.type === 'break') return true
      if (node.type === 'text') {
        const newline = node.value.indexOf('\n')
        out += newline === -1 ? node.value : node.value.slice(0, newline)
        if (newline !== -1) return true
      } else if ('children' in node && endOffset(node) > lineEnd) {
        if (visit(node.children)) return true
      } else {
        out += toString(node).split('\n')[0]
      }
    }
    return false
  }
  visit(nodes)
  return out
}

/** Everything after the first line of the item, de-indented by the item's content indent. */
function itemBody(item: ListItem, source: string, lineEnd: number): string {
  const end = item.position?.end.offset ?? lineEnd
  if (lineEnd >= end) return ''
  const indent = contentIndent(source, itemStart(item))
  const lines = source
    .slice(lineEnd + 1, end)
    .split('\n')
    .map((line) => stripIndent(line, indent))
  while (lines.length > 0 && lines[0].trim() === '') lines.shift()
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop()
  return lines.join('\n')
}

/** Column where the item's content (the checkbox) starts: indent + marker + spaces. */
function contentIndent(source: string, start: number): number {
  const lineStart = source.lastIndexOf('\n', start - 1) + 1
  const marker = /^(?:[-*+]|\d{1,9}[.)])[ \t]*/.exec(source.slice(start)) ?? ['']
  return columnWidth(source.slice(lineStart, start + marker[0].length))
}

function columnWidth(text: string): number {
  let column = 0
  for (const char of text) column = char === '\t' ? column + 4 - (column % 4) : column + 1
  return column
}

/** Removes up to `columns` columns of leading whitespace (tabs expand to multiples of 4). */
function stripIndent(line: string, columns: number): string {
  let column = 0
  let index = 0
  while (index < line.length && column < columns) {
    const char = line[index]
    if (char === ' ') column += 1
    else if (char === '\t') column += 4 - (column % 4)
    else break
    index += 1
  }
  // A tab that reaches past the indent leaves its remaining columns as spaces.
  return ' '.repeat(Math.max(0, column - columns)) + line.slice(index)
}

function lineEndAt(source: string, offset: number): number {
  const newline = source.indexOf('\n', offset)
  return newline === -1 ? source.length : newline
}

function itemStart(item: ListItem): number {
  return item.position?.start.offset ?? 0
}

function endOffset(node: PhrasingContent): number {
  return node.position?.end.offset ?? Number.MAX_SAFE_INTEGER
}

/** Dependency errors are task list errors: the user fixes them in the issue. */
function asTaskListError<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof DependencyError) throw new TaskListError(error.message)
    throw error
  }
}

function assertUniqueIds(tasks: Task[]): void {
  const seen = new Map<string, Task>()
  for (const task of tasks) {
    const key = task.id.toLowerCase()
    const earlier = seen.get(key)
    if (earlier) throw new TaskListError(duplicateMessage(earlier, task, tasks))
    seen.set(key, task)
  }
}

function duplicateMessage(earlier: Task, later: Task, tasks: Task[]): string {
  const sameAs = earlier.id === later.id ? '' : ` (same as "${earlier.id}": IDs ignore case)`
  const positional = [earlier, later]
    .filter((task) => task.idSource === 'position')
    .map(
      (task) => ` Item ${task.position} has no explicit ID, so its position makes it "${task.id}".`
    )
    .join('')
  const taken = new Set(tasks.map((task) => task.id.toLowerCase()))
  let free = tasks.length + 1
  while (taken.has(`t${free}`)) free += 1
  return (
    `Duplicate task ID "${later.id}"${sameAs}: item ${earlier.position} (${quote(earlier.title)}) ` +
    `and item ${later.position} (${quote(later.title)}).${positional} ` +
    `Give each task a distinct ID such as "T${free}: ...".`
  )
}

function quote(title: string): string {
  return `"${title.length > 60 ? `${title.slice(0, 57)}...` : title}"`
}
