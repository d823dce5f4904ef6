import type { Logger } from './types.js'

/** Plain console logger for the CLI and the demo. */
export function consoleLogger(options: { verbose?: boolean } = {}): Logger {
  return {
    debug: (message) => {
      if (options.verbose) console.error(`debug: ${message}`)
    },
    info: (message) => console.log(message),
    warning: (message) => console.error(`warning: ${message}`),
    error: (message) => console.error(`error: ${message}`),
    group: async (name, fn) => {
      console.log(`\n== ${name}`)
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
