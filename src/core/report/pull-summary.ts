import type { RootContent } from 'mdast'
import { isMerged, type FanoutResult, type TaskResult } from '../types.js'
import * as md from './mdast.js'

// The pull request's per-task summary: what each task did, for a reviewer reading the pull
// request. What the agent said it did (its result file's summary) when it said so, else the
// subjects of the commits on its branch; the files it changed; what the verify command said.
// Everything here but our own words is the agent's text: rendered as text (md.untrusted, one
// line each, mentions broken up), never as markdown.

/** Commit subjects of a task's branch (git/subjects.ts), by task ID. */
export type SubjectsByTask = Map<string, { subjects: string[]; more: number }>

const SHOWN_FILES = 20

/** Tasks a reviewer wants to read about: those whose work exists (not skipped, not waiting). */
function summarised(tasks: TaskResult[]): TaskResult[] {
  return tasks.filter((t) => !['skipped', 'queued', 'ready'].includes(t.status))
}

function whatItDid(task: TaskResult, subjects: SubjectsByTask, level: number): RootContent[] {
  const said = task.agentReport?.summary?.trim()
  if (said) {
    return [
      md.paragraph(
        md.strong(md.text('The agent says:')),
        md.text(' '),
        md.untrusted(said, level === 0 ? 600 : 200)
      )
    ]
  }
  const commits = subjects.get(task.id)
  if (!commits || commits.subjects.length === 0) return []
  const shown = level === 0 ? commits.subjects : commits.subjects.slice(0, 3)
  const more = commits.more + commits.subjects.length - shown.length
  return [
    md.paragraph(md.strong(md.text('Commits:'))),
    md.list([
      ...shown.map((s) => [md.untrusted(s, 120)]),
      ...(more > 0 ? [[md.emphasis(md.text(`and ${more} more`))]] : [])
    ])
  ]
}

function filesChanged(task: TaskResult, level: number): RootContent[] {
  const files = task.changedFiles
  if (files.length === 0) return []
  const label = md.strong(md.text(`Files changed (${files.length}):`))
  if (level > 0) return [md.paragraph(label)]
  const shown = files.slice(0, SHOWN_FILES).map((f) => [md.fileName(f)])
  const rest = files.length - shown.length
  return [
    md.paragraph(
      label,
      md.text(' '),
      ...md.joined(shown, ', '),
      ...(rest > 0 ? [md.text(` and ${rest} more`)] : [])
    )
  ]
}

/** The task's verify verdict, where it has one of its own (verify: each, or it broke it). */
function verifyVerdict(task: TaskResult, verify: FanoutResult['verify']): RootContent[] {
  if (task.status === 'broke-verify')
    return [
      md.paragraph(
        md.strong(md.text('Verify:')),
        md.text(' 🧪 failed once it was merged, so it was taken back out (its branch keeps it).')
      )
    ]
  if (verify?.mode === 'each' && !verify.note && isMerged(task.status))
    return [md.paragraph(md.strong(md.text('Verify:')), md.text(' ✅ passed after its merge.'))]
  return []
}

function taskSection(
  task: TaskResult,
  result: FanoutResult,
  subjects: SubjectsByTask,
  level: number
): RootContent[] {
  const head = md.heading(
    4,
    md.text(`${md.inertLine(task.id, 40)}: ${md.inertLine(task.title)} (${task.status})`)
  )
  if (level >= 2) return [head]
  return [
    head,
    ...whatItDid(task, subjects, level),
    ...filesChanged(task, level),
    ...verifyVerdict(task, result.verify)
  ]
}

/**
 * "What each task did", as rich as fits `budget` characters: full, then shortened (three
 * commits, file counts), then the headings alone; nothing when not even those fit.
 */
export function perTaskSummary(
  result: FanoutResult,
  subjects: SubjectsByTask,
  budget: number
): RootContent[] {
  const tasks = summarised(result.tasks)
  if (tasks.length === 0) return []
  for (let level = 0; level < 3; level++) {
    const blocks = [
      md.heading(3, md.text('What each task did')),
      ...tasks.flatMap((t) => taskSection(t, result, subjects, level))
    ]
    if (md.serialize(blocks).length <= budget) return blocks
  }
  return []
}
