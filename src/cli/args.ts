import { parseArgs, type ParseArgsConfig } from 'node:util'
import {
  CLI_OPTIONS,
  cliFlag,
  OPTIONS,
  readOptions,
  type OptionDef,
  type OptionName,
  type Options
} from '../core/options.js'
import { errorMessage, UserError } from '../core/util/errors.js'

// The CLI's arguments: the run options come from the one definition the action's inputs use
// (core/options.ts), so a flag means what the input of the same name means; the flags only a
// local run has (where the issue file and the repository are) are defined here. Parsing is
// strict: an unknown flag, a missing value or a stray argument is a usage error (exit 2) in one
// line that names it.

export type Subcommand = 'run' | 'retry' | 'drop' | 'status' | 'clean'

interface LocalFlag {
  type: 'string' | 'boolean'
  arg?: string
  help: string
  short?: string
}

const LOCAL_FLAGS = {
  'issue-file': {
    type: 'string',
    arg: '<file>',
    help: 'Markdown with a task list; its first "# " heading is the issue title.'
  },
  repo: {
    type: 'string',
    arg: '<dir>',
    help: 'The git repository to work in (default: the current directory).'
  },
  'work-dir': {
    type: 'string',
    arg: '<dir>',
    help: 'Where worktrees and logs go (default: a folder per repository and issue number in the temp dir).'
  },
  'github-repo': {
    type: 'string',
    arg: '<owner/name>',
    help: 'Repository whose issues `- [ ] #123` items refer to (with GITHUB_TOKEN; default: origin, when it is on GitHub).'
  },
  json: {
    type: 'boolean',
    help: 'Print the result as JSON on stdout (progress and logs stay on stderr).'
  },
  verbose: { type: 'boolean', help: "Also log the agents' output and each step on stderr." },
  help: { type: 'boolean', short: 'h', help: 'Show this help.' }
} as const satisfies Record<string, LocalFlag>

type LocalName = keyof typeof LOCAL_FLAGS

/** Which flags each subcommand takes (run options: every CLI option of core/options.ts). */
const TAKES: Record<Subcommand, { local: LocalName[]; options: readonly OptionName[] }> = {
  run: { local: Object.keys(LOCAL_FLAGS) as LocalName[], options: CLI_OPTIONS },
  retry: { local: Object.keys(LOCAL_FLAGS) as LocalName[], options: CLI_OPTIONS },
  drop: { local: Object.keys(LOCAL_FLAGS) as LocalName[], options: CLI_OPTIONS },
  status: {
    local: ['issue-file', 'repo', 'json', 'help'],
    options: ['issue-number', 'branch-prefix']
  },
  clean: {
    local: ['repo', 'work-dir', 'json', 'help'],
    options: ['issue-number', 'branch-prefix']
  }
}

const SUMMARY: Record<Subcommand, string> = {
  run: `agent-fanout run --issue-file <file> --agent '<command>' [options]
  Runs one agent per open task of the list, each in its own worktree and branch, and merges the
  branches into one integration branch. Run it again to go on: finished tasks are reused (their
  branches merged again as they are), the others run.`,
  retry: `agent-fanout retry <task-id>... --issue-file <file> --agent '<command>' [options]
  Runs the named tasks' agents again (also dropped ones); the other tasks stay as they were.`,
  drop: `agent-fanout drop <task-id>... --issue-file <file> [options]
  Takes the named tasks out of the integration branch (their branches are left alone) and
  merges the others again. --agent is needed only for conflict strategies that run one.`,
  status: `agent-fanout status [--issue-file <file>] [--issue-number <n> | --branch-prefix <p>]
  What the last run recorded, where its branches are now and, with --issue-file, what the next
  run would do with each task.`,
  clean: `agent-fanout clean [--issue-number <n> | --branch-prefix <p>] [--work-dir <dir>]
  Removes a run's worktrees, its branches (integration and tasks) and its recorded state, and
  says what it removed.`
}

export interface Parsed {
  options: Partial<Options>
  local: { [K in LocalName]?: (typeof LOCAL_FLAGS)[K]['type'] extends 'boolean' ? boolean : string }
  positionals: string[]
  /** The arguments without the positionals and --json: this invocation's options, to repeat. */
  flags: string[]
}

/**
 * Parses a subcommand's arguments; throws UserError (exit 2) naming the flag that is wrong.
 * `--help` is returned as `local.help` for the caller to print `helpText(subcommand)`.
 */
export function parseCommandLine(sub: Subcommand, argv: string[]): Parsed {
  const takes = TAKES[sub]
  const config: NonNullable<ParseArgsConfig['options']> = {}
  for (const name of takes.local) {
    const flag: LocalFlag = LOCAL_FLAGS[name]
    config[name] = { type: flag.type, ...(flag.short ? { short: flag.short } : {}) }
  }
  for (const name of takes.options)
    for (const flag of flagsOf(name)) config[flag] = { type: 'string' }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      options: config,
      strict: true,
      tokens: true,
      allowPositionals: sub === 'retry' || sub === 'drop'
    })
  } catch (error) {
    throw new UserError(`${usageProblem(error)} (see agent-fanout ${sub} --help)`)
  }
  const values = parsed.values as Record<string, string | boolean | undefined>
  const local = Object.fromEntries(
    takes.local.filter((n) => values[n] !== undefined).map((n) => [n, values[n]])
  ) as Parsed['local']
  const at = new Set(
    (parsed.tokens ?? []).flatMap((t) =>
      t.kind === 'positional' ||
      t.kind === 'option-terminator' ||
      (t.kind === 'option' && t.name === 'json')
        ? [t.index]
        : []
    )
  )
  const flags = argv.filter((_, i) => !at.has(i))
  if (local.help) return { options: {}, local, positionals: parsed.positionals, flags }
  const read = (name: OptionName): string | undefined => {
    const given = flagsOf(name).filter((f) => values[f] !== undefined)
    if (given.length > 1)
      throw new UserError(`--${given.join(' and --')} mean the same: give one of them`)
    return given.length ? String(values[given[0]]) : undefined
  }
  let options: Partial<Options>
  try {
    options = readOptions(takes.options, read, (name) => `--${cliFlag(name)}`, 'cli')
  } catch (error) {
    if (error instanceof UserError) throw error
    throw new UserError(errorMessage(error))
  }
  return { options, local, positionals: parsed.positionals, flags }
}

/** The flag and its aliases (without dashes). */
function flagsOf(name: OptionName): string[] {
  const cli: OptionDef<unknown>['cli'] = OPTIONS[name].cli
  return [cliFlag(name), ...((cli && cli.aliases) || [])]
}

/** node:util's parse errors, as one line in the CLI's words. */
function usageProblem(error: unknown): string {
  const e = error as { code?: string; message?: string }
  const message = errorMessage(error).split('\n')[0]
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message
      return `unknown flag ${flag}`
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']+)'/.exec(message)?.[1] ?? message
      return `unexpected argument "${arg}"`
    }
    default:
      return message.replace(/\.$/, '')
  }
}

/** The first sentence of a description, without markdown code marks. */
function firstSentence(text: string): string {
  return `${text
    .replace(/`/g, '')
    .split(/\.\s+(?=[A-Za-z])/)[0]
    .replace(/\.$/, '')}.`
}

function optionHelp(name: OptionName): [string, string] {
  const def: OptionDef<unknown> = OPTIONS[name]
  const cli = def.cli as Exclude<OptionDef<unknown>['cli'], false>
  const aliases = (cli.aliases ?? []).map((a) => `, --${a}`).join('')
  const left = `--${cliFlag(name)}${aliases} ${cli.arg ?? '<value>'}`
  const fallback = cli.default ?? def.default
  const text = cli.help ?? firstSentence(def.description)
  const withDefault = cli.help || !fallback ? text : `${text} Default: ${fallback}.`
  return [left, withDefault]
}

/** The help of one subcommand: what it does, then each flag it takes with its default. */
export function helpText(sub: Subcommand): string {
  const takes = TAKES[sub]
  const rows: [string, string][] = [
    ...takes.local.map((name): [string, string] => {
      const flag: LocalFlag = LOCAL_FLAGS[name]
      return [
        `${flag.short ? `-${flag.short}, ` : ''}--${name}${flag.arg ? ` ${flag.arg}` : ''}`,
        flag.help
      ]
    }),
    ...takes.options.map(optionHelp)
  ]
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2)
  const indent = `\n  ${' '.repeat(width)}`
  const lines = rows.map(([left, right]) => {
    const text = wrap(right, 98 - width).join(indent)
    return left.length + 2 > width ? `  ${left}${indent}${text}` : `  ${left.padEnd(width)}${text}`
  })
  return `Usage: ${SUMMARY[sub]}\n\nOptions:\n${lines.join('\n')}\n`
}

/** Words in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  return [...lines, line]
}

export const USAGE = `agent-fanout: run one agent per task of a markdown task list, each in its own git worktree,
and merge their branches into one integration branch, locally (no GitHub needed).

Usage:
  agent-fanout run --issue-file tasks.md --agent '<command>' [options]
  agent-fanout run --issue-file tasks.md --agent-preset claude-code [options]
  agent-fanout retry <task-id>... --issue-file tasks.md --agent '<command>' [options]
  agent-fanout drop <task-id>... --issue-file tasks.md [options]
  agent-fanout status [--issue-file tasks.md]
  agent-fanout clean [--issue-number <n>]
  agent-fanout demo [--keep]

agent-fanout <command> --help lists a command's options. Exit status: 0 done, 1 a task ended as
--fail-on says (or the integration branch could not be updated), 2 a usage error, 130/143 when
interrupted.
`
