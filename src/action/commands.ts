import type { Command } from './state.js'

export type ParsedCommand =
  Command | { kind: 'status' } | { kind: 'help'; reason: string } | { kind: 'none' }

export const COMMAND_HELP = [
  'agent-fanout understands these commands (from people with write access), one per comment:',
  '',
  '- `/fanout run` — run every unfinished task (new, changed, failed, conflicted) and rebuild the pull request',
  '- `/fanout retry T2 T5` — run those tasks again from scratch',
  '- `/fanout drop T3` — take those tasks out of the integration branch and the pull request (their branches stay)',
  '- `/fanout status` — refresh the status comment'
].join('\n')

/** Reads a `/fanout ...` command from the first line of a comment. */
export function parseCommand(body: string): ParsedCommand {
  const line = body.trimStart().split('\n')[0].trim()
  const match = /^\/fanout(?:\s+(.*))?$/i.exec(line)
  if (!match) return { kind: 'none' }
  const [verb = '', ...args] = (match[1] ?? '').split(/[\s,]+/).filter(Boolean)
  const ids = args.filter((a) => /^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(a))
  switch (verb.toLowerCase()) {
    case 'run':
      return { kind: 'run' }
    case 'status':
      return { kind: 'status' }
    case 'retry':
    case 'drop':
      if (ids.length === 0 || ids.length !== args.length) {
        return {
          kind: 'help',
          reason: `\`/fanout ${verb.toLowerCase()}\` needs task IDs, e.g. \`/fanout ${verb.toLowerCase()} T2 T3\`.`
        }
      }
      return { kind: verb.toLowerCase() as 'retry' | 'drop', ids }
    default:
      return {
        kind: 'help',
        reason: verb
          ? `Unknown command \`/fanout ${verb.replace(/[^\w-]/g, '').slice(0, 40)}\`.`
          : 'The command is missing.'
      }
  }
}
