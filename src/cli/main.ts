import { readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { defaultBranchPrefix } from '../core/branches.js'
import { runFanout } from '../core/engine.js'
import { Git, type Identity } from '../core/git/git.js'
import { consoleLogger } from '../core/logger.js'
import { renderReport, summaryLine } from '../core/report/markdown.js'
import { parseTaskList, TASK_SYNTAX_HELP } from '../core/tasks/parse.js'
import type { FanoutResult, Logger, TaskStatus } from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { runDemo, runDemoAgent } from './demo.js'
import { INTERRUPTED_EXIT, watchInterrupts } from './interrupt.js'

const USAGE = `agent-fanout: run one agent per task of a markdown task list, each in its own git worktree,
and merge their branches into one integration branch, locally (no GitHub needed).

Usage:
  agent-fanout run --issue-file tasks.md --agent '<command>' [options]
  agent-fanout demo [--keep]

Options for run:
  --issue-file <file>       markdown with a task list (its first "# " heading is the issue title)
  --agent <command>         run through bash -c in each task worktree; the task arrives in
                            TASK_ID, TASK_TITLE, TASK_BODY and the file TASK_PROMPT_FILE
  --repo <dir>              repository to work in (default: current directory)
  --base <branch>           branch the tasks start from (default: the current branch)
  --issue-number <n>        number used in branch names and the report (default 1)
  --branch-prefix <prefix>  default fanout/issue-<n>
  --max-parallel <n>        agents at once (default 4)
  --timeout-minutes <n>     per agent (default 30)
  --work-dir <dir>          where worktrees and logs go (default: a folder in the temp dir)
  --fail-on <list>          outcomes that make the exit status 1 (default failed,conflicted)
  --json                    print the result as JSON instead of the markdown report
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest)
      case 'demo':
        return await runDemo(rest)
      case 'demo-agent':
        return await runDemoAgent()
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE)
        return command === undefined ? 2 : 0
      default:
        throw new UserError(`unknown command "${command}"\n\n${USAGE}`)
    }
  } catch (error) {
    process.stderr.write(`agent-fanout: ${errorMessage(error)}\n`)
    return error instanceof UserError ? 2 : 1
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'issue-file': { type: 'string' },
      agent: { type: 'string' },
      repo: { type: 'string', default: '.' },
      base: { type: 'string' },
      'issue-number': { type: 'string', default: '1' },
      'branch-prefix': { type: 'string' },
      'max-parallel': { type: 'string', default: '4' },
      'timeout-minutes': { type: 'string', default: '30' },
      'work-dir': { type: 'string' },
      'fail-on': { type: 'string', default: 'failed,conflicted' },
      json: { type: 'boolean', default: false }
    }
  })
  if (!values['issue-file'])
    throw new UserError('--issue-file is required (a markdown file with a task list)')
  if (!values.agent)
    throw new UserError('--agent is required (the command to run in each worktree)')
  const issueNumber = wholeNumber(values['issue-number'], '--issue-number')
  // Signals and a closed stdout end the run as a cancelled action run ends (interrupt.ts).
  const interrupts = watchInterrupts()
  try {
    const result = await runLocal({
      repoDir: path.resolve(values.repo),
      issueFile: values['issue-file'],
      agentCommand: values.agent,
      baseBranch: values.base,
      issueNumber,
      branchPrefix: values['branch-prefix'],
      maxParallel: wholeNumber(values['max-parallel'], '--max-parallel'),
      timeoutMs: Number(values['timeout-minutes']) * 60_000,
      workDir: values['work-dir'],
      logger: consoleLogger(),
      signal: interrupts.signal
    })
    const cancelled = interrupts.reason
    if (interrupts.stdoutOpen) {
      const text = values.json
        ? `${JSON.stringify(cancelled ? { ...result, cancelled } : result, null, 2)}\n`
        : `\n${renderReport(result, {
            issueNumber,
            maxLength: 1_000_000,
            ...(cancelled ? { headline: `cancelled (${cancelled}) — ${summaryLine(result)}` } : {})
          })}`
      // Written before the exit status is decided: its reader may be gone (an EPIPE is handled).
      await new Promise((resolve) => process.stdout.write(text, resolve))
    }
    const stopped = interrupts.reason
    if (stopped) return INTERRUPTED_EXIT[stopped]
    const failOn = new Set(values['fail-on'].split(',').map((s) => s.trim()))
    return result.tasks.some((t) => failOn.has(t.status as TaskStatus)) ? 1 : 0
  } finally {
    interrupts.dispose()
  }
}

export interface LocalRunOptions {
  repoDir: string
  issueFile: string
  agentCommand: string
  baseBranch?: string
  issueNumber: number
  branchPrefix?: string
  maxParallel: number
  timeoutMs: number
  workDir?: string
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Aborting it ends every agent and reports what finished. */
  signal?: AbortSignal
}

/** The engine on a local repository: branches are created locally, nothing is pushed. */
export async function runLocal(options: LocalRunOptions): Promise<FanoutResult> {
  const markdown = await readFile(options.issueFile, 'utf8').catch((error: unknown) => {
    throw new UserError(`cannot read --issue-file ${options.issueFile}: ${errorMessage(error)}`)
  })
  const tasks = parseTaskList(markdown).tasks
  if (!tasks.some((t) => !t.checked)) {
    throw new UserError(`no open tasks in ${options.issueFile}.\n\n${TASK_SYNTAX_HELP}`)
  }
  const probe = new Git(options.repoDir)
  const identity = await localIdentity(probe)
  const git = new Git(options.repoDir, { identity, env: options.env })
  const baseBranch =
    options.baseBranch ?? (await git.out(['symbolic-ref', '--short', 'HEAD']).catch(() => 'HEAD'))
  const baseSha = await git.out(['rev-parse', '--verify', `${baseBranch}^{commit}`]).catch(() => {
    throw new UserError(`base branch "${baseBranch}" not found in ${options.repoDir}`)
  })
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1]?.trim() ?? path.basename(options.issueFile)
  return runFanout({
    git,
    logger: options.logger,
    issue: { number: options.issueNumber, title },
    tasks,
    baseBranch,
    baseSha,
    agentCommand: options.agentCommand,
    maxParallel: options.maxParallel,
    taskTimeoutMs: options.timeoutMs,
    branchPrefix: options.branchPrefix ?? defaultBranchPrefix(options.issueNumber),
    workDir:
      options.workDir ??
      path.join(
        os.tmpdir(),
        'agent-fanout',
        `${path.basename(options.repoDir)}-issue-${options.issueNumber}`
      ),
    identity,
    agentBaseEnv: options.env ?? process.env,
    secrets: [],
    signal: options.signal
  })
}

async function localIdentity(git: Git): Promise<Identity> {
  const name = await git.out(['config', 'user.name']).catch(() => '')
  const email = await git.out(['config', 'user.email']).catch(() => '')
  return { name: name || 'agent-fanout', email: email || 'agent-fanout@localhost' }
}

function wholeNumber(text: string, flag: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`${flag} must be a whole number of 1 or more, got "${text}"`)
  return n
}
