// Task results the stages build, in one place so that they read alike everywhere.

import type { TaskResult } from '../types.js'

/** A task's work as the run will merge it: the commit and the paths it changes against the base. */
export interface Produced {
  tip: string
  changedFiles: string[]
}

/**
 * A failed task: nothing of it is merged (its branch may still keep work: `extra.commit`). Used
 * by the engine, by plans that keep an earlier failure (people.ts, the matrix merge job) and by
 * the matrix task job.
 */
export function failedResult(
  task: { id: string; title: string },
  branch: string,
  reason: string,
  extra: Partial<TaskResult> = {}
): TaskResult {
  return {
    id: task.id,
    title: task.title,
    status: 'failed',
    branch,
    changedFiles: [],
    durationMs: 0,
    reason,
    ...extra
  }
}

/** A task's result in one log line. */
export function describe(result: TaskResult | undefined): string {
  if (!result) return 'finished'
  if (result.status === 'merged')
    return `finished with ${result.changedFiles.length} changed file(s)`
  return `${result.status}: ${result.reason ?? ''}`
}
