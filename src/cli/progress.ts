import type { PlannedTask, RunEvent, RunWatcher } from '../core/events.js'
import { formatDuration } from '../core/report/markdown.js'
import { terminalLine } from '../core/report/terminal.js'
import type { TaskResult } from '../core/types.js'

// What the CLI shows on stderr while a run goes, built only from the run's events (core/
// events.ts): a line when a task starts, its result line the moment its agent ends, done of
// total and the time since the start on each, and every `quietMs` while nothing else was said,
// which tasks are still running and for how long. Plain lines, no cursor tricks: the output is
// as readable in a log file or a CI step as on a terminal.

export interface Progress {
  watch: RunWatcher
  /** Says which tasks are running, when nothing was said for a while (call it on a timer). */
  tick(): void
}

export function progressPrinter(
  write: (line: string) => void,
  now: () => number = Date.now,
  quietMs = 15_000
): Progress {
  let start = now()
  let lastSaid = start
  let planned: PlannedTask[] = []
  const running = new Map<string, number>()
  const done = new Set<string>()
  const told = new Map<string, string>()
  const toRun = (): number => planned.filter((t) => t.action === 'run').length
  const say = (text: string): void => {
    lastSaid = now()
    write(`[${done.size}/${toRun()} ${clock(lastSaid - start)}] ${text}`)
  }
  const title = (id: string): string =>
    terminalLine(planned.find((t) => t.id === id)?.title ?? '', 80)

  const watch = (event: RunEvent): void => {
    switch (event.kind) {
      case 'planned': {
        planned = event.tasks
        start = event.at
        const others = planned.filter((t) => t.action !== 'run')
        say(
          `${count(toRun(), 'task')} to run${others.length ? `; ${others.map(describePlan).join(', ')}` : ''}`
        )
        break
      }
      case 'started':
        running.set(event.taskId, event.at)
        say(
          `${terminalLine(event.taskId, 40)} started${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}: ${title(event.taskId)}`
        )
        break
      case 'finished': {
        // A task is told once when its agent ends, and again only if judging its work changed
        // the verdict (a change it may not make, say): the same news twice is said once.
        const id = event.result.id
        const line = resultLine(event.result)
        if (told.get(id) === line) break
        told.set(id, line)
        running.delete(id)
        if (planned.some((t) => t.id === id && t.action === 'run')) done.add(id)
        say(line)
        break
      }
      case 'integrating':
        say('all agents are done: merging the task branches')
        break
      case 'done':
        running.clear()
        say(`finished: ${outcomes(event.tasks)}`)
        break
    }
  }
  const tick = (): void => {
    if (running.size === 0 || now() - lastSaid < quietMs) return
    const t = now()
    say(
      `running: ${[...running].map(([id, at]) => `${terminalLine(id, 40)} (${clock(t - at)})`).join(', ')}`
    )
  }
  return { watch, tick }
}

function resultLine(r: TaskResult): string {
  const id = terminalLine(r.id, 40)
  const took = formatDuration(r.durationMs)
  switch (r.status) {
    case 'failed':
      return `${id} ✗ failed after ${took}: ${terminalLine(r.reason ?? 'unknown', 200)}`
    case 'no-changes':
      return `${id} - no changes (${took})`
    case 'skipped':
      return `${id} - skipped: ${terminalLine(r.reason ?? '', 200)}`
    case 'conflicted':
      return `${id} ! conflicted (${took})`
    case 'broke-verify':
      return `${id} ✗ broke verify (${took})`
    default:
      // Merged or not is told by the report: integration comes after every agent.
      return `${id} ✓ done in ${took}, ${count(r.changedFiles.length, 'file')} changed`
  }
}

function describePlan(t: PlannedTask): string {
  const id = terminalLine(t.id, 40)
  switch (t.action) {
    case 'reuse':
      return `${id} reused from an earlier run`
    case 'merge':
      return `${id} merged from elsewhere`
    case 'keep':
      return `${id} not run this time`
    case 'drop':
      return `${id} dropped`
    default:
      return id
  }
}

/** "2 merged, 1 failed": how many tasks ended each way, in the order they come. */
function outcomes(tasks: TaskResult[]): string {
  const counts = new Map<string, number>()
  for (const t of tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1)
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'no tasks'
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

/** Elapsed time as m:ss (h:mm:ss past an hour). */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const mm = String(Math.floor(s / 60) % 60)
  const ss = String(s % 60).padStart(2, '0')
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`
}
