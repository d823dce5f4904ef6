// Task dependencies in the task list: which tasks a task waits for. Users depend on these rules
// (docs/task-list.md):
//
// - `(after T1)` or `(after T1, T2)` at the end of an item's first line, as plain text (not in
//   code or emphasis); it is removed from the title. Something like `(after lunch)` names no task
//   ID and stays part of the title.
// - `depends on: T1` (or `T1, T2`) on a line of its own nested in the item: a further line of its
//   first paragraph, a paragraph of its own or a nested list item. It stays in the body. A
//   `depends on:` line that names no task ID is an error.
// - IDs are matched ignoring case (as IDs are unique ignoring case) and stored as the task
//   writes its own ID. Unknown IDs, a task depending on itself and cycles are errors that name
//   the tasks, raised while parsing, so before anything starts.
// - A dependency on a checked (done) task is satisfied: its work is taken to be in the base
//   already, so the dependent starts as if the dependency were not there.
//
// Everything here reads the markdown tree that parse.ts built; the only patterns matched are
// over the text of one node (the tail of the first line, one nested line).

import type { ListItem, Paragraph, PhrasingContent } from 'mdast'
import { toString } from 'mdast-util-to-string'
import type { Task } from '../types.js'

const ID_TOKEN = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/
const AFTER_TAIL = /\(\s*after\s+([^()]*?)\s*\)\s*$/i
const DEPENDS_LINE = /^\s*depends\s+on\s*:\s*(.*?)\s*\.?\s*$/i

/** `(after …)` found at the end of the first line: the IDs and where it starts in the source. */
export interface AfterClause {
  ids: string[]
  /** Source offset where the clause (and the whitespace before it) starts. */
  from: number
}

/**
 * The `(after …)` clause ending the paragraph's first line, when the last node on that line is
 * plain text ending in it and every token inside is a task ID.
 */
export function afterClause(
  paragraph: Paragraph,
  lineEnd: number,
  source: string
): AfterClause | undefined {
  const last = lastNodeOnLine(paragraph.children, lineEnd)
  if (last?.type !== 'text' || last.position?.start.offset === undefined) return undefined
  const value = last.value.split('\n')[0]
  const match = AFTER_TAIL.exec(value)
  const ids = match ? idList(match[1]) : undefined
  if (!match || !ids) return undefined
  // The clause as the source writes it: an escaped `\(after T1)` is text, not a clause.
  const raw = source.slice(last.position.start.offset, lineEnd).trimEnd()
  const clause = match[0].trimEnd()
  if (!raw.endsWith(clause)) return undefined
  const start = last.position.start.offset + raw.length - clause.length
  if (source[start - 1] === '\\') return undefined
  let from = start
  while (from > 0 && /[ \t]/.test(source[from - 1])) from -= 1
  return { ids, from }
}

function lastNodeOnLine(nodes: PhrasingContent[], lineEnd: number): PhrasingContent | undefined {
  let last: PhrasingContent | undefined
  for (const node of nodes) {
    if ((node.position?.start.offset ?? Infinity) >= lineEnd) break
    last = node
  }
  return last
}

/**
 * IDs from every `depends on:` line nested in the item (not its first line). A line that starts
 * with `depends on:` but names no ID list throws, naming the line.
 */
export function dependsOnLines(item: ListItem, describe: () => string): string[] {
  const ids: string[] = []
  const take = (line: string): void => {
    const match = DEPENDS_LINE.exec(line)
    if (!match) return
    const found = idList(match[1])
    if (!found)
      throw new DependencyError(
        `${describe()} has the line "${line.trim()}", which names no task ID. Write it as "depends on: T1" or "depends on: T1, T2".`
      )
    ids.push(...found)
  }
  item.children.forEach((child, index) => {
    if (child.type === 'paragraph') {
      const lines = toString(child).split('\n')
      for (const line of index === 0 ? lines.slice(1) : lines) take(line)
    } else if (child.type === 'list') {
      for (const nested of child.children) {
        const first = nested.children[0]
        // A nested checkbox is a detail of the task, not a dependency line.
        if (first?.type === 'paragraph' && typeof nested.checked !== 'boolean')
          take(toString(first).split('\n')[0])
      }
    }
  })
  return ids
}

/** `T1, T2` / `T1 and T2` / `T1 T2` as IDs, or undefined when anything else is in there. */
function idList(text: string): string[] | undefined {
  const tokens = text
    .split(/\s*,\s*|\s+and\s+|\s+/i)
    .map((t) => t.trim())
    .filter(Boolean)
  if (tokens.length === 0) return undefined
  return tokens.every((t) => ID_TOKEN.test(t) && /\d/.test(t)) ? tokens : undefined
}

/** A dependency that cannot be satisfied as written; parse.ts turns it into a TaskListError. */
export class DependencyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DependencyError'
  }
}

/**
 * Checks every task's dependencies and rewrites them to the IDs as the tasks write them
 * (deduplicated, in the order written). Throws DependencyError for an unknown ID, a task that
 * depends on itself, or a cycle, naming the tasks.
 */
export function resolveDependencies(tasks: Task[]): void {
  const byKey = new Map(tasks.map((t) => [t.id.toLowerCase(), t]))
  for (const task of tasks) {
    if (!task.dependsOn) continue
    const resolved: string[] = []
    for (const written of task.dependsOn) {
      const target = byKey.get(written.toLowerCase())
      if (!target) {
        const known = tasks.map((t) => t.id).join(', ')
        throw new DependencyError(
          `Task ${task.id} depends on "${written}", which is not a task of this list (its tasks: ${known}).`
        )
      }
      if (target === task)
        throw new DependencyError(`Task ${task.id} depends on itself; remove "${written}".`)
      if (!resolved.includes(target.id)) resolved.push(target.id)
    }
    task.dependsOn = resolved
  }
  const cycle = findCycle(tasks)
  if (cycle)
    throw new DependencyError(
      `Tasks depend on each other in a cycle: ${cycle.join(' → ')}. Remove one of these dependencies.`
    )
}

/** The first cycle found, as IDs from a task back to itself (`T1 → T3 → T1`), if there is one. */
export function findCycle(tasks: readonly Task[]): string[] | undefined {
  const byId = new Map(tasks.map((t) => [t.id, t]))
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined
    if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id]
    state.set(id, 'open')
    path.push(id)
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      const cycle = visit(dep)
      if (cycle) return cycle
    }
    path.pop()
    state.set(id, 'done')
    return undefined
  }
  for (const task of tasks) {
    const cycle = visit(task.id)
    if (cycle) return cycle
  }
  return undefined
}

/**
 * The tasks in an order where each comes after the tasks it depends on, otherwise in list
 * order: the order their branches are merged in. (Kahn's algorithm, always taking the earliest
 * ready task in the list.) Dependencies on tasks not among `tasks` are ignored.
 */
export function dependencyOrder<T extends Pick<Task, 'id' | 'dependsOn'>>(
  tasks: readonly T[]
): T[] {
  const ids = new Set(tasks.map((t) => t.id))
  const placed = new Set<string>()
  const order: T[] = []
  while (order.length < tasks.length) {
    const next = tasks.find(
      (t) => !placed.has(t.id) && (t.dependsOn ?? []).every((d) => placed.has(d) || !ids.has(d))
    )
    // A cycle (rejected by resolveDependencies): keep the rest in list order, never loop.
    const pick = next ?? tasks.find((t) => !placed.has(t.id))!
    placed.add(pick.id)
    order.push(pick)
  }
  return order
}
