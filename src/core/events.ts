// What a run tells its watchers while it goes: the CLI's progress lines and the action's live
// status comment are both built from these events, so neither needs to know the engine's insides.
// Watchers are called synchronously and must not throw; `emit` below keeps a faulty watcher
// from breaking the run.

import type { Logger, TaskResult } from './types.js'

/** A task as the run sees it at the start. */
export interface PlannedTask {
  id: string
  title: string
  /** What the run does with it: start its agent, merge earlier work, or only show it. */
  action: 'run' | 'reuse' | 'merge' | 'keep' | 'drop'
  /** IDs of the tasks it waits for (task dependencies). */
  dependsOn: string[]
}

export type RunEvent =
  /** Once, before any agent starts. */
  | { kind: 'planned'; at: number; tasks: PlannedTask[] }
  /** An agent started for a task (attempt counts from 1). */
  | { kind: 'started'; at: number; taskId: string; attempt: number }
  /**
   * A task's agent stage is over (ready to merge, failed, no changes, skipped): the result as
   * known now; integration may still change its status (merged, conflicted, ...).
   */
  | { kind: 'finished'; at: number; result: TaskResult }
  /** All agents are done; the task branches are being merged (and verified). */
  | { kind: 'integrating'; at: number }
  /** The run is over: the final results. */
  | { kind: 'done'; at: number; tasks: TaskResult[] }

export type RunWatcher = (event: RunEvent) => void

/** Calls the watcher, if any; a watcher that throws is logged, never allowed to end the run. */
export function emit(watcher: RunWatcher | undefined, logger: Logger, event: RunEvent): void {
  if (!watcher) return
  try {
    watcher(event)
  } catch (e) {
    logger.debug(
      `A run watcher failed on '${event.kind}': ${e instanceof Error ? e.message : String(e)}`
    )
  }
}
