import { inertLogText } from '../core/logger.js'
import { terminalBlock } from '../core/report/terminal.js'
import type { Logger } from '../core/types.js'

// Everything the CLI says while it works goes to stderr, so that stdout holds only the result
// (the report, or the JSON of `--json`): `agent-fanout run … --json | jq` reads just that.
// Lines carry text from agents, git and the issue: they are made inert for a terminal (no
// escape sequences) and for an Actions log (no workflow commands), as the CLI may run in either.

export function say(line: string): void {
  process.stderr.write(`${terminalBlock(inertLogText(line))}\n`)
}

/**
 * The CLI's logger. `info` (the engine's step-by-step lines and the agents' output) shows
 * when `info` is true: with a progress display it is noise, and --verbose brings it back.
 */
export function stderrLogger(options: { info: boolean; debug: boolean }): Logger {
  return {
    debug: (message) => {
      if (options.debug) say(`debug: ${message}`)
    },
    info: (message) => {
      if (options.info) say(message)
    },
    warning: (message) => say(`warning: ${message}`),
    error: (message) => say(`error: ${message}`),
    group: async (name, fn) => {
      if (options.info) say(`== ${name}`)
      return fn()
    }
  }
}
