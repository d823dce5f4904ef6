import { createHash } from 'node:crypto'
import { readFile, realpath } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { chooseAgent, type AgentPreset } from '../core/agents/presets/index.js'
import { defaultBranchPrefix, integrationBranchName, taskBranchName } from '../core/branches.js'
import { runFanout, type TaskPlan } from '../core/engine.js'
import { prepareLfs } from '../core/git/lfs.js'
import { OPTIONS } from '../core/options.js'
import { baseBranchName, localBranchTip } from '../core/git/base-branch.js'
import { Git, type Identity } from '../core/git/git.js'
import { consoleLogger } from '../core/logger.js'
import { keepPeoplesWork } from '../core/people.js'
import { renderReport, summaryLine } from '../core/report/markdown.js'
import { parseTaskList, TASK_SYNTAX_HELP } from '../core/tasks/parse.js'
import type { FanoutResult, Logger, Task, TaskStatus } from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { runDemo, runDemoAgent } from './demo.js'
import { INTERRUPTED_EXIT, watchInterrupts } from './interrupt.js'
import { localTaskStates, readLocalRecord, writeLocalRecord, type LocalRecord } from './record.js'

const USAGE = `agent-fanout: run one agent per task of a markdown task list, each in its own git worktree,
and merge their branches into one integration branch, locally (no GitHub needed).

Usage:
  agent-fanout run --issue-file tasks.md --agent '<command>' [options]
  agent-fanout run --issue-file tasks.md --agent-preset claude-code [options]
  agent-fanout demo [--keep]

Options for run:
  --issue-file <file>       markdown with a task list (its first "# " heading is the issue title)
  --agent <command>         run through bash -c in each task worktree; the task arrives in
                            TASK_ID, TASK_TITLE, TASK_BODY and the file TASK_PROMPT_FILE
  --agent-preset <name>     a known CLI instead: claude-code, codex, aider or gemini (its key
                            must be in the environment); --agent wins when both are given
  --agent-args=<words>      options appended to the preset's command line (shell words),
                            e.g. --agent-args='--model sonnet' (with "=": they start with "-")
  --repo <dir>              repository to work in (default: current directory)
  --base <branch>           branch the tasks start from (default: the current branch)
  --issue-number <n>        number used in branch names and the report (default 1)
  --branch-prefix <prefix>  default fanout/issue-<n>
  --max-parallel <n>        agents at once (default 4)
  --timeout-minutes <n>     per agent (default 30)
  --work-dir <dir>          where worktrees and logs go (default: a folder in the temp dir)
  --sparse-checkout <dirs>  monorepos: directories every worktree shows (comma-separated)
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
      'agent-preset': { type: 'string' },
      'agent-args': { type: 'string' },
      repo: { type: 'string', default: '.' },
      base: { type: 'string' },
      'issue-number': { type: 'string', default: '1' },
      'branch-prefix': { type: 'string' },
      'max-parallel': { type: 'string', default: '4' },
      'timeout-minutes': { type: 'string', default: '30' },
      'work-dir': { type: 'string' },
      'sparse-checkout': { type: 'string', default: '' },
      'fail-on': { type: 'string', default: 'failed,conflicted' },
      json: { type: 'boolean', default: false }
    }
  })
  if (!values['issue-file'])
    throw new UserError('--issue-file is required (a markdown file with a task list)')
  let agent
  try {
    agent = chooseAgent(
      {
        command: values.agent ?? '',
        preset: values['agent-preset'] ?? '',
        args: values['agent-args'] ?? ''
      },
      process.env,
      { command: '--agent', preset: '--agent-preset', args: '--agent-args' }
    )
  } catch (error) {
    throw new UserError(errorMessage(error))
  }
  if (!agent)
    throw new UserError(
      '--agent or --agent-preset is required (the command to run in each worktree, or a known CLI)'
    )
  const issueNumber = wholeNumber(values['issue-number'], '--issue-number')
  // Signals and a closed stdout end the run as a cancelled action run ends (interrupt.ts).
  const interrupts = watchInterrupts()
  try {
    const result = await runLocal({
      repoDir: path.resolve(values.repo),
      issueFile: values['issue-file'],
      agentCommand: agent.command,
      agentPreset: agent.preset,
      baseBranch: values.base,
      issueNumber,
      branchPrefix: values['branch-prefix'],
      maxParallel: wholeNumber(values['max-parallel'], '--max-parallel'),
      timeoutMs: Number(values['timeout-minutes']) * 60_000,
      workDir: values['work-dir'],
      sparseCheckout: cliSparse(values['sparse-checkout']),
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
    const failing = result.tasks.some((t) => failOn.has(t.status as TaskStatus))
    return failing || !result.integrationUpdated ? 1 : 0
  } finally {
    interrupts.dispose()
  }
}

export interface LocalRunOptions {
  repoDir: string
  issueFile: string
  agentCommand: string
  /** The known CLI behind agentCommand (--agent-preset). */
  agentPreset?: AgentPreset
  baseBranch?: string
  issueNumber: number
  branchPrefix?: string
  maxParallel: number
  timeoutMs: number
  workDir?: string
  /** Directories every worktree shows (--sparse-checkout). */
  sparseCheckout?: string[]
  logger: Logger
  env?: NodeJS.ProcessEnv
  /** Aborting it ends every agent and reports what finished. */
  signal?: AbortSignal
}

export interface LocalRunResult extends FanoutResult {
  /** False when the integration branch changed during the run: it was left as it was. */
  integrationUpdated: boolean
}

/** The engine on a local repository: branches are created locally, nothing is pushed. */
export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
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
  const { baseBranch, baseSha } = await resolveBase(git, options)
  const title = /^#\s+(.+)$/m.exec(markdown)?.[1]?.trim() ?? path.basename(options.issueFile)
  const branchPrefix = options.branchPrefix ?? defaultBranchPrefix(options.issueNumber)
  const keep = await keepLocalWork(git, {
    issueNumber: options.issueNumber,
    tasks,
    baseBranch,
    baseSha,
    branchPrefix
  })
  for (const note of keep.notes) options.logger.info(note)
  // Git LFS content in the worktrees, from this repository's store (git/lfs.ts).
  await prepareLfs(git, undefined, baseSha, {}, options.logger)
  const result = await runFanout({
    git,
    logger: options.logger,
    issue: { number: options.issueNumber, title },
    tasks,
    plan: keep.plan,
    baseBranch,
    baseSha,
    integrationStart: keep.start,
    integrationSeen: keep.seen ?? '',
    agentCommand: options.agentCommand,
    agentPreset: options.agentPreset,
    maxParallel: options.maxParallel,
    taskTimeoutMs: options.timeoutMs,
    branchPrefix,
    workDir: options.workDir ?? (await defaultWorkDir(options.repoDir, options.issueNumber)),
    identity,
    agentBaseEnv: options.env ?? process.env,
    secrets: [],
    signal: options.signal,
    sparseCheckout: options.sparseCheckout
  })
  if (keep.notes.length > 0) result.warnings = [...keep.notes, ...(result.warnings ?? [])]
  const now = await git.out(
    ['rev-parse', '-q', '--verify', `refs/heads/${result.integrationBranch}`],
    { okExitCodes: [1] }
  )
  // When someone committed on the branch meanwhile, it was left as it was: the record keeps
  // what it said about it, so the next run finds those commits as commits by people.
  const integrationUpdated = now === result.integrationSha
  await writeLocalRecord(
    git,
    branchPrefix,
    result,
    tasks,
    integrationUpdated ? { sha: now, people: keep.people } : keep.record?.integration
  )
  return { ...result, integrationUpdated }
}

/**
 * Where the local integration branch starts and what runs, so that commits people made on the
 * CLI's branches are kept (core/people.ts); throws CannotKeepError when they cannot be.
 */
async function keepLocalWork(
  git: Git,
  o: {
    issueNumber: number
    tasks: Task[]
    baseBranch: string
    baseSha: string
    branchPrefix: string
  }
): Promise<Awaited<ReturnType<typeof keepPeoplesWork>> & { seen?: string; record?: LocalRecord }> {
  const integrationBranch = integrationBranchName(o.branchPrefix)
  const refs = await git.out([
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `refs/heads/${o.branchPrefix}/`
  ])
  const tips = new Map(
    refs
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const space = line.indexOf(' ')
        return [line.slice(space + 1).replace(/^refs\/heads\//, ''), line.slice(0, space)] as const
      })
  )
  const record = await readLocalRecord(git, o.branchPrefix)
  const plan = new Map<string, TaskPlan>(
    o.tasks.filter((t) => !t.checked).map((t) => [t.id, { mode: 'run' }])
  )
  const seen = tips.get(integrationBranch)
  const decision = await keepPeoplesWork(git, {
    issueNumber: o.issueNumber,
    baseBranch: o.baseBranch,
    baseSha: o.baseSha,
    integrationBranch,
    integrationTip: seen,
    record: record?.integration,
    tasks: localTaskStates(o.tasks, record, (t) => taskBranchName(o.branchPrefix, t.id), tips),
    plan
  })
  return { ...decision, seen, record }
}

/**
 * The branch tasks start from: --base, or the branch checked out (a detached HEAD: its commit).
 * A name is looked up as a branch only (refs/heads/), never as a tag of the same name.
 */
async function resolveBase(
  git: Git,
  options: LocalRunOptions
): Promise<{ baseBranch: string; baseSha: string }> {
  // The full name: `--short` says `heads/x` when a tag x exists too.
  const head = await git.run(['symbolic-ref', '-q', 'HEAD'], { okExitCodes: [1, 128] })
  if (head.exitCode === 128)
    throw new UserError(`${options.repoDir} is not a git repository: ${head.stderr.trim()}`)
  const given = options.baseBranch ?? head.stdout.trim()
  if (!given) return { baseBranch: 'HEAD', baseSha: await git.out(['rev-parse', 'HEAD^{commit}']) }
  const baseBranch = await baseBranchName(git, given, options.baseBranch ? '--base' : 'HEAD')
  const where = options.repoDir
  return { baseBranch, baseSha: await localBranchTip(git, baseBranch, { what: 'base', where }) }
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

/**
 * Where a run's worktrees and logs go unless --work-dir says: one folder per repository (its
 * real path, hashed: two repositories in folders of the same name must not share it, since a
 * run's recovery removes the worktrees it finds there) and issue number.
 */
async function defaultWorkDir(repoDir: string, issueNumber: number): Promise<string> {
  const real = await realpath(repoDir).catch(() => path.resolve(repoDir))
  const id = createHash('sha256').update(real).digest('hex').slice(0, 10)
  return path.join(os.tmpdir(), 'agent-fanout', `${path.basename(real)}-${id}-issue-${issueNumber}`)
}

/** --sparse-checkout, read by the shared option definition (core/options.ts). */
function cliSparse(text: string): string[] | undefined {
  try {
    return OPTIONS['sparse-checkout'].parse(text, '--sparse-checkout')
  } catch (error) {
    throw new UserError(errorMessage(error))
  }
}
