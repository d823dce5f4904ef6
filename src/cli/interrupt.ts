import { spawn, type ChildProcess } from 'node:child_process'
import { fstatSync } from 'node:fs'
import { toolEnv } from '../core/util/tool-env.js'

/** What ended a CLI run early: a signal, or nobody reading its output any more. */
export type Interruption = 'SIGINT' | 'SIGTERM' | 'stdout-closed'

/** The exit statuses a shell gives a process ended by that signal (128 + its number). */
export const INTERRUPTED_EXIT: Record<Interruption, number> = {
  SIGINT: 130,
  SIGTERM: 143,
  'stdout-closed': 141
}

export interface Interrupts {
  /** Aborted (reason 'cancelled') on the first interruption: runFanout ends every agent. */
  signal: AbortSignal
  /** The first interruption, if there was one. */
  readonly reason: Interruption | undefined
  /** Whether stdout can still be written (false once a write failed or its reader left). */
  readonly stdoutOpen: boolean
  /** Stops watching: the handlers go, the stdout watcher is ended. */
  dispose(): void
}

/**
 * The CLI's counterpart of the action's cancellation: SIGINT, SIGTERM and a closed stdout
 * (`agent-fanout run … | head -1`) abort the run, so every agent's process tree is ended,
 * the worktrees are removed and what finished is reported, instead of Node's default of dying
 * on the spot (a signal) or throwing EPIPE from the next write (a closed pipe) with the agents
 * left running.
 *
 * A closed pipe is only noticed by writing to it, and a run can be silent for minutes while
 * its agents work. Where stdout is a pipe, GNU tail watches it: `tail -f /dev/null` writes
 * nothing, but polls its output and dies of SIGPIPE as soon as the pipe has no reader left
 * (coreutils ≥ 8.28), and `--pid` ends it with this process. Without GNU tail the closed pipe
 * is noticed at the next write instead.
 */
export function watchInterrupts(
  notify: (line: string) => void = (line) => process.stderr.write(`${line}\n`)
): Interrupts {
  const abort = new AbortController()
  let reason: Interruption | undefined
  let stdoutOpen = true
  const interrupt = (why: Interruption): void => {
    if (reason) return
    reason = why
    notify(
      why === 'stdout-closed'
        ? 'agent-fanout: nobody reads the output any more: ending all agents and removing the worktrees'
        : `agent-fanout: received ${why}: ending all agents, removing the worktrees, then reporting what finished`
    )
    abort.abort('cancelled')
  }
  const onSignal = (signal: NodeJS.Signals): void => interrupt(signal as Interruption)
  const onStdoutError = (): void => {
    // EPIPE (the reader left), or any other write failure: nothing more can be shown there.
    stdoutOpen = false
    interrupt('stdout-closed')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.on('error', onStdoutError)
  const watcher = watchPipeReader(onStdoutError)

  return {
    signal: abort.signal,
    get reason() {
      return reason
    },
    get stdoutOpen() {
      return stdoutOpen
    },
    dispose() {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      // Kept: a write still under way may yet fail, and must not become an uncaught EPIPE.
      process.stdout.on('error', () => undefined)
      process.stdout.off('error', onStdoutError)
      if (watcher && watcher.exitCode === null && watcher.signalCode === null) watcher.kill()
    }
  }
}

/** A `tail` that dies of SIGPIPE once stdout's pipe has no reader; undefined if stdout is no pipe. */
function watchPipeReader(onClosed: () => void): ChildProcess | undefined {
  try {
    if (!fstatSync(1).isFIFO()) return undefined
  } catch {
    return undefined
  }
  const child = spawn('tail', ['-f', '/dev/null', `--pid=${process.pid}`, '-s', '1'], {
    stdio: ['ignore', 'inherit', 'ignore'],
    env: toolEnv()
  })
  child.on('error', () => undefined) // no tail: the next write notices instead
  child.on('exit', (_code, signal) => {
    if (signal === 'SIGPIPE') onClosed()
  })
  // Never what keeps the CLI alive.
  child.unref()
  return child
}
