// GitHub sub-issues of the issue as tasks, next to (after) the task list or instead of one.
// Users depend on these rules (README, "Sub-issues"):
//
// - Each sub-issue is a task, in the order GitHub lists them (the order people arrange them in).
//   They come after the task list's items, so adding a sub-issue never renumbers an item.
// - Its ID is `I<number>` (sub-issue #45 is task I45): stable across runs, whatever the order,
//   the title or the other sub-issues become. Its title and body are the sub-issue's, cleaned
//   like any issue text (hidden comments and invisible characters removed): untrusted data.
// - A closed sub-issue is done (like a checked item): not run, shown as skipped.
// - A task-list item that refers to the sub-issue (`- [ ] #45`) already is its task: the
//   sub-issue is not added twice.
// - An ID written in the task list that equals a sub-issue's (`I45: ...`) is an error naming both.
import { isMerged, type Task, type TaskStatus } from '../types.js'
import { TaskListError } from './parse.js'
import { sanitizeIssueText } from './sanitize.js'

/** A sub-issue as the task list needs it (the adapter reads it from GitHub). */
export interface SubIssue {
  number: number
  title: string
  body: string
  url: string
  closed: boolean
}

/** The task ID of sub-issue `number`: `I45` for #45. */
export function subIssueTaskId(number: number): string {
  return `I${number}`
}

/** The task list's tasks followed by one task per sub-issue not already referred to by an item. */
export function withSubIssues(tasks: Task[], subIssues: SubIssue[]): Task[] {
  const referenced = new Set(tasks.flatMap((t) => (t.reference ? [t.reference.issueNumber] : [])))
  const ids = new Map(tasks.map((t) => [t.id.toLowerCase(), t]))
  const added: Task[] = []
  for (const sub of subIssues) {
    if (referenced.has(sub.number)) continue
    referenced.add(sub.number)
    const id = subIssueTaskId(sub.number)
    const clash = ids.get(id.toLowerCase())
    if (clash) {
      throw new TaskListError(
        `Task ID "${clash.id}" of item ${clash.position} is also the ID of sub-issue #${sub.number} (sub-issue #N is task I<N>). Give the item another ID.`
      )
    }
    added.push({
      id,
      idSource: 'explicit',
      position: tasks.length + added.length + 1,
      title: sanitizeIssueText(sub.title).replace(/\s+/g, ' ').trim() || `#${sub.number}`,
      body: [`(sub-issue #${sub.number}: ${sub.url})`, '', sanitizeIssueText(sub.body).trim()]
        .join('\n')
        .trim(),
      checked: sub.closed,
      subIssue: { issueNumber: sub.number }
    })
  }
  return [...tasks, ...added]
}

/**
 * The sub-issues a pull request may close: those whose task is on the integration branch (any
 * merged status). `Closes #N` for each goes into the pull request's body.
 */
export function mergedSubIssues(
  tasks: Pick<Task, 'id' | 'subIssue'>[],
  results: { id: string; status: TaskStatus }[]
): number[] {
  const merged = new Set(results.filter((r) => isMerged(r.status)).map((r) => r.id))
  return tasks.flatMap((t) => (t.subIssue && merged.has(t.id) ? [t.subIssue.issueNumber] : []))
}

/** Why a done task is skipped: its box is checked, or its sub-issue is closed. */
export function doneReason(task: Pick<Task, 'subIssue'>): string {
  return task.subIssue
    ? `sub-issue #${task.subIssue.issueNumber} is closed (done)`
    : 'checked in the issue (done)'
}
