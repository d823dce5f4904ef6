import type { Logger } from './types.js'

/** Whitespace the runner trims before looking for `::` (.NET's Char.IsWhiteSpace), and more. */
const COMMAND_START = /^[\s\u0085\u180e]*::/

/**
 * A log message that the Actions runner cannot take for a workflow command. The runner reads
 * the log line by line (a line ends at LF, CR or CRLF) and runs `::name::data` at the start of
 * a line, after whitespace, and the legacy `##[name]data` anywhere in one. Messages carry text
 * from agents, git and the issue (file names, reasons, titles; a file may be named
 * "x\n::error::pwned"), so every line of every message goes through here once, in the logger,
 * rather than at each of the many places that build one: a zero-width space (not whitespace to
 * the runner) starts each line that would start with `::`, and splits `##[`, as the agent-output
 * echo does. Other text is unchanged.
 */
export function inertLogText(message: string): string {
  return message
    .replace(/##\[/g, '#\u200b#[')
    .split(/(\r\n|\r|\n)/)
    .map((part, i) => (i % 2 === 0 && COMMAND_START.test(part) ? `\u200b${part}` : part))
    .join('')
}

/**
 * Plain console logger for the CLI and the demo. The CLI may run in a workflow step, where its
 * output is the step log: messages are made inert like the action's.
 */
export function consoleLogger(options: { verbose?: boolean } = {}): Logger {
  return {
    debug: (message) => {
      if (options.verbose) console.error(`debug: ${inertLogText(message)}`)
    },
    info: (message) => console.log(inertLogText(message)),
    warning: (message) => console.error(`warning: ${inertLogText(message)}`),
    error: (message) => console.error(`error: ${inertLogText(message)}`),
    group: async (name, fn) => {
      console.log(`\n== ${inertLogText(name)}`)
      return fn()
    }
  }
}

/** Logger that records lines in memory (tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    debug: (m) => lines.push(`debug: ${m}`),
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
    group: async (name, fn) => {
      lines.push(`== ${name}`)
      return fn()
    }
  }
}
