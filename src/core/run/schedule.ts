// Starts tasks as their dependencies allow: a task starts as soon as every task it depends on
// has finished with work to build on, with at most `limit` running at once. Not in waves: a task
// waits only for its own dependencies, and independent tasks start at once, in list order.
// A task whose dependency ended without such work is skipped, never started, and says why;
// the reason carries the chain ("T2 skipped (T1 failed)").

/** How a task's run ended, as its dependents see it. */
export type Verdict =
  /** Finished with work its dependents can start from. */
  | { ok: true }
  /** Did not: `says` completes "<id> …", e.g. "failed", "had no changes", "skipped (T1 failed)". */
  | { ok: false; says: string }

export interface Schedulable {
  id: string
  dependsOn?: string[]
}

export interface ScheduleOptions<T extends Schedulable> {
  /** The tasks to start this run, in the order to prefer among those ready. */
  tasks: readonly T[]
  /** Most tasks running at once (at least 1). */
  limit: number
  /**
   * A dependency that is not started this run (done, reused, dropped, checked): whether it is
   * there to build on. Unknown IDs count as not there.
   */
  outside: (id: string) => Verdict
  run: (task: T) => Promise<Verdict>
  /** Called, in place of run, for a task whose dependency ended without work (`reason`). */
  skip: (task: T, reason: string) => void
}

/**
 * Runs every task once its dependencies are settled; resolves with each task's verdict when all
 * have run or been skipped. A `run` that throws counts as "failed" for its dependents, no further
 * task is started, and the error is thrown once the running ones settled (as mapWithConcurrency).
 */
export async function runInDependencyOrder<T extends Schedulable>(
  options: ScheduleOptions<T>
): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>()
  const inRun = new Set(options.tasks.map((t) => t.id))
  const waiting = [...options.tasks]
  const limit = Math.max(1, options.limit)
  let running = 0
  let failure: { error: unknown } | undefined

  const verdictOf = (id: string): Verdict | undefined =>
    inRun.has(id) ? verdicts.get(id) : options.outside(id)

  return new Promise((resolve, reject) => {
    const settle = (task: T, verdict: Verdict): void => {
      verdicts.set(task.id, verdict)
      running--
      pump()
    }
    const pump = (): void => {
      // Skips can make more tasks decidable: go round until nothing changes.
      for (let changed = true; changed;) {
        changed = false
        for (const task of [...waiting]) {
          const deps = (task.dependsOn ?? []).map((id) => ({ id, verdict: verdictOf(id) }))
          if (deps.some((d) => d.verdict === undefined)) continue
          const missing = deps.filter((d) => !d.verdict!.ok)
          if (missing.length > 0) {
            waiting.splice(waiting.indexOf(task), 1)
            const reason = missing.map((d) => `${d.id} ${describe(d.verdict!)}`).join(', ')
            verdicts.set(task.id, { ok: false, says: `skipped (${reason})` })
            options.skip(task, reason)
            changed = true
          } else if (running < limit && !failure) {
            waiting.splice(waiting.indexOf(task), 1)
            running++
            start(task)
          }
        }
      }
      if (running > 0) return
      // Only a cycle (refused when the list is parsed) leaves tasks nobody can start.
      if (!failure)
        for (const task of waiting.splice(0)) {
          verdicts.set(task.id, { ok: false, says: 'skipped (its dependencies form a cycle)' })
          options.skip(task, 'its dependencies form a cycle')
        }
      if (failure) reject(failure.error)
      else resolve(verdicts)
    }
    const start = (task: T): void => {
      // Started outside the loop above, so a run that settles at once cannot re-enter it.
      queueMicrotask(() => {
        options.run(task).then(
          (verdict) => settle(task, verdict),
          (error: unknown) => {
            failure ??= { error }
            settle(task, { ok: false, says: 'failed' })
          }
        )
      })
    }
    pump()
  })
}

function describe(verdict: Verdict): string {
  return verdict.ok ? 'finished' : verdict.says
}
