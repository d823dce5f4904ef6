import type { RootContent } from 'mdast'
import type { TaskResult } from '../types.js'
import { formatBytes } from '../util/no-space.js'
import * as md from './mdast.js'

/**
 * The report's collapsed section on disk: what each task's worktree took when its agent was
 * done (a checkout: the whole tree; an overlay: only what the task changed). Nothing when no
 * task was measured (every result came from an earlier run, or a matrix merge job).
 */
export function diskUseDetails(tasks: readonly TaskResult[]): RootContent[] {
  const measured = tasks.filter((t) => t.diskBytes !== undefined)
  if (measured.length === 0) return []
  const total = measured.reduce((sum, t) => sum + (t.diskBytes ?? 0), 0)
  return md.details(
    `Disk used by the tasks' worktrees: ${formatBytes(total)} in all`,
    md.table([
      [[md.text('Task')], [md.text('Disk used')]],
      ...measured.map((t) => [[md.untrusted(t.id, 40)], [md.text(formatBytes(t.diskBytes ?? 0))]])
    ])
  )
}
