// The run at a glance for the job summary: a mermaid gantt chart, one bar per task from its
// agent's start to its end, marked by outcome. Task titles come from the issue: in a chart line
// `:` ends the name, `#` and `;` and `%%` have meanings of their own, and a backtick run could
// end the code fence. So a name keeps only letters, digits, spaces and a few harmless marks;
// everything else becomes a space. Bar IDs are ours (t1, t2, ...), never the task's.

import type { TaskResult } from '../types.js'
import { isMerged } from '../types.js'
import * as md from './mdast.js'

/** A chart-safe name: letters, digits, space and `-_.,()/+`, at most `max` characters. */
export function ganttName(value: string, max = 60): string {
  const cleaned = value
    .replace(/[^\p{L}\p{N} \-_.,()/+]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  const cut = [...cleaned].slice(0, max).join('')
  return cut || 'task'
}

/** Mermaid's tag for an outcome: done (merged), crit (failed and the like), none otherwise. */
function tag(status: TaskResult['status']): string {
  if (isMerged(status) || status === 'ready') return 'done, '
  if (['failed', 'conflicted', 'broke-verify'].includes(status)) return 'crit, '
  return ''
}

/** The gantt chart as a fenced `mermaid` block; undefined when no task has times. */
export function renderGantt(tasks: TaskResult[]): string | undefined {
  const timed = tasks.filter(
    (t) => t.startedAt !== undefined && t.finishedAt !== undefined && !t.reused
  )
  if (timed.length === 0) return undefined
  const lines = [
    'gantt',
    '  title Agents of this run (start to end, by outcome)',
    '  dateFormat x',
    '  axisFormat %H:%M:%S',
    '  section Tasks',
    ...timed.map((t, i) => {
      const end = Math.max(t.finishedAt!, t.startedAt! + 1)
      const name = `${ganttName(t.id, 32)} ${ganttName(t.title)} (${t.status})`
      return `  ${name} :${tag(t.status)}t${i + 1}, ${t.startedAt}, ${end}`
    })
  ]
  return md.serialize([md.code(lines.join('\n'), 'mermaid')])
}
