import path from 'node:path'
import type { Command } from '../action/state.js'
import { chooseAgent } from '../core/agents/presets/index.js'
import { summaryLine } from '../core/report/markdown.js'
import { renderTerminalReport, terminalBlock } from '../core/report/terminal.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { helpText, parseCommandLine, USAGE, type Parsed, type Subcommand } from './args.js'
import { cleanCommand } from './clean.js'
import { runDemo, runDemoAgent } from './demo.js'
import { INTERRUPTED_EXIT, watchInterrupts } from './interrupt.js'
import { say, stderrLogger } from './log.js'
import { progressPrinter } from './progress.js'
import { runLocal, type LocalRunResult } from './run.js'
import { statusCommand } from './status.js'

export { runLocal, type LocalRunOptions, type LocalRunResult } from './run.js'

/** Exit statuses: 0 done, 1 tasks ended as --fail-on says, 2 usage (130/143/141 interrupted). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'run':
      case 'retry':
      case 'drop':
        return await runCommand(command, rest)
      case 'status':
        return await withHelp('status', rest, statusCommand)
      case 'clean':
        return await withHelp('clean', rest, cleanCommand)
      case 'demo':
        return await runDemo(rest)
      case 'demo-agent':
        return await runDemoAgent()
      case 'help':
        if (rest[0] && isSubcommand(rest[0])) {
          process.stdout.write(helpText(rest[0]))
          return EXIT.ok
        }
        process.stdout.write(USAGE)
        return EXIT.ok
      case undefined:
      case '-h':
      case '--help':
        process.stdout.write(USAGE)
        return command === undefined ? EXIT.usage : EXIT.ok
      default:
        throw new UserError(`unknown command "${command}" (see agent-fanout --help)`)
    }
  } catch (error) {
    // Usage errors are one line; others (people's commits that cannot be kept) may say more.
    process.stderr.write(`agent-fanout: ${terminalBlock(errorMessage(error)).trimEnd()}\n`)
    return error instanceof UserError ? EXIT.usage : EXIT.failed
  }
}

function isSubcommand(name: string): name is Subcommand {
  return ['run', 'retry', 'drop', 'status', 'clean'].includes(name)
}

/** `<sub> --help` prints that subcommand's help on stdout and exits 0, whatever else is given. */
async function withHelp(
  sub: Subcommand,
  argv: string[],
  run: (parsed: Parsed) => Promise<number>
): Promise<number> {
  const parsed = parseCommandLine(sub, argv)
  if (parsed.local.help) {
    process.stdout.write(helpText(sub))
    return EXIT.ok
  }
  return run(parsed)
}

/** run, retry and drop: one run of the engine, reported on stdout, progress on stderr. */
async function runCommand(sub: 'run' | 'retry' | 'drop', argv: string[]): Promise<number> {
  const parsed = parseCommandLine(sub, argv)
  if (parsed.local.help) {
    process.stdout.write(helpText(sub))
    return EXIT.ok
  }
  const { options, local } = parsed
  const command = subcommand(sub, parsed.positionals)
  if (!local['issue-file'])
    throw new UserError('--issue-file is required (a markdown file with a task list)')
  const agent = agentFor(sub, parsed)
  const json = local.json === true
  const verbose = local.verbose === true
  const progress = progressPrinter(say)
  const ticker = setInterval(progress.tick, 5_000)
  ticker.unref()
  // Signals and a closed stdout end the run as a cancelled action run ends (interrupt.ts).
  const interrupts = watchInterrupts()
  try {
    const result = await runLocal({
      repoDir: path.resolve(local.repo ?? '.'),
      issueFile: local['issue-file'],
      command,
      agentCommand: agent.command,
      agentPreset: agent.preset,
      issueNumber: options['issue-number'] ?? 1,
      options,
      workDir: local['work-dir'],
      githubRepo: local['github-repo'],
      logger: stderrLogger({ info: verbose, debug: verbose }),
      signal: interrupts.signal,
      watch: progress.watch,
      warn: (message) => say(`warning: ${message}`)
    })
    const cancelled = interrupts.reason
    if (interrupts.stdoutOpen) {
      const text = json
        ? `${JSON.stringify(cancelled ? { ...result, cancelled } : result, null, 2)}\n`
        : renderTerminalReport(result, {
            ...(cancelled ? { headline: `cancelled (${cancelled}) — ${summaryLine(result)}` } : {}),
            commands: nextCommands(parsed.flags)
          })
      // Written before the exit status is decided: its reader may be gone (an EPIPE is handled).
      await new Promise((resolve) => process.stdout.write(text, resolve))
    }
    const stopped = interrupts.reason
    if (stopped) return INTERRUPTED_EXIT[stopped]
    return exitStatus(result, options['fail-on'])
  } finally {
    clearInterval(ticker)
    interrupts.dispose()
  }
}

function subcommand(sub: 'run' | 'retry' | 'drop', ids: string[]): Command {
  if (sub === 'run') return { kind: 'run' }
  if (ids.length === 0)
    throw new UserError(
      `${sub} needs the IDs of the tasks to ${sub}, e.g. agent-fanout ${sub} T2 …`
    )
  return { kind: sub, ids }
}

/**
 * The agent command: --agent, or --agent-preset (its key must be in the environment). drop runs
 * no agent unless a conflict strategy does: it may go without one then.
 */
function agentFor(sub: Subcommand, parsed: Parsed): ReturnType<typeof chooseAgent> & object {
  const o = parsed.options
  let agent
  try {
    agent = chooseAgent(
      { command: o['agent-command'] ?? '', preset: o.agent ?? '', args: o['agent-args'] ?? '' },
      process.env,
      { command: '--agent', preset: '--agent-preset', args: '--agent-args' }
    )
  } catch (error) {
    throw new UserError(errorMessage(error))
  }
  if (agent) return agent
  const runsAgents = (o['conflict-strategy'] ?? []).some(
    (s) => s === 'rerun' || (s === 'agent' && !o['resolve-command'])
  )
  if (sub === 'drop' && !runsAgents)
    return { command: 'echo "agent-fanout drop runs no agent" >&2; exit 2' }
  throw new UserError(
    '--agent or --agent-preset is required (the command to run in each worktree, or a known CLI)'
  )
}

/** 1 when a task ended as --fail-on says, or the integration branch could not be updated. */
function exitStatus(result: LocalRunResult, failOn: Set<string> | undefined): number {
  const failing = result.tasks.some((t) =>
    (failOn ?? new Set(['failed', 'conflicted'])).has(t.status)
  )
  return failing || !result.integrationUpdated ? EXIT.failed : EXIT.ok
}

/** The report's "how to go on" commands: this run's own options, for retry or drop. */
function nextCommands(flags: string[]): { retry(id: string): string; drop(id: string): string } {
  const line = (sub: string, id: string): string =>
    ['agent-fanout', sub, id, ...flags].map(shellWord).join(' ')
  return { retry: (id) => line('retry', id), drop: (id) => line('drop', id) }
}

/** A word as a POSIX shell reads it back: bare when safe, else in single quotes. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
