import type { Git } from './git/git.js'
import { runAgent, type AgentRunResult } from './agents/run-agent.js'
import { scrubEnv } from './agents/env.js'
import type { Identity } from './git/git.js'

/**
 * The `setup-command` (`npm ci`, `pip install -e .`, `make deps`): run once before any agent,
 * where the agents' files come from (the shared base of overlay worktrees; each worktree in
 * checkout mode), with the agents' environment rules: no token, no action inputs.
 *
 * What it leaves must never reach a task's commit unless the task changed it: the paths it
 * created or changed that git would otherwise add (untracked and not ignored, or tracked and
 * modified) are recorded, and each task's `git add` leaves them out (setupExcludes).
 */

export interface SetupRun {
  command: string
  /** Where it runs: the overlay base, or one worktree. */
  cwd: string
  /** The environment agents start from (scrubbed here as theirs is). */
  baseEnv: NodeJS.ProcessEnv
  secrets: string[]
  identity: Identity
  /** Finds its processes, whatever they do to their group (see run-agent.ts). */
  marker: { name: string; value: string }
  logFile: string
  timeoutMs: number
  killGraceMs?: number
  onLine?: (line: string) => void
  signal?: AbortSignal
}

/** A failed set-up: the run stops before any agent starts; `tail` is the end of its output. */
export class SetupError extends Error {
  constructor(
    message: string,
    readonly tail: string,
    readonly logFile: string
  ) {
    super(message)
    this.name = 'SetupError'
  }
}

/** How a task that could not start because the set-up failed is reported: its reason and tail. */
export function setupFailed(error: SetupError): {
  status: 'failed'
  changedFiles: string[]
  reason: string
  logTail: string
  logFile: string
} {
  return {
    status: 'failed',
    changedFiles: [],
    reason: error.message,
    logTail: error.tail,
    logFile: error.logFile
  }
}

/** Runs the set-up command; throws SetupError (with its log tail) unless it exits 0. */
export async function runSetup(options: SetupRun): Promise<AgentRunResult> {
  const env = scrubEnv(options.baseEnv, {
    secrets: options.secrets,
    identity: options.identity,
    marker: options.marker
  })
  const run = await runAgent({
    command: options.command,
    cwd: options.cwd,
    env,
    logFile: options.logFile,
    timeoutMs: options.timeoutMs,
    killGraceMs: options.killGraceMs ?? 5000,
    marker: options.marker,
    onLine: options.onLine,
    signal: options.signal
  })
  const why = run.cancelled
    ? 'was cancelled'
    : run.timedOut
      ? 'timed out'
      : run.noSpace
        ? `failed: ${run.noSpace.message}`
        : run.exitCode === null
          ? `was killed by ${run.signal ?? 'a signal'}`
          : run.exitCode !== 0
            ? `exited with status ${run.exitCode}`
            : undefined
  if (why)
    throw new SetupError(
      `The setup-command ${why} (in ${options.cwd}); no agent was started.`,
      run.logTail,
      options.logFile
    )
  return run
}

/** What the set-up left that `git add --all` would take. */
export interface SetupPaths {
  /** Untracked, not ignored directories it created (as git lists them: ending in `/`). */
  dirs: string[]
  /** Untracked files it created and tracked files it changed, with the blob of what it left. */
  files: { path: string; blob: string }[]
}

export const NO_SETUP_PATHS: SetupPaths = { dirs: [], files: [] }

/** Where git commands address the checkout the set-up ran in (cwd and GIT_* variables). */
export interface GitAt {
  cwd: string
  env?: NodeJS.ProcessEnv
}

/**
 * The set-up's paths, read after it ran in a checkout of the base: `ls-files --others
 * --directory` (untracked, not ignored; a new directory as one entry) and `diff-files`
 * (tracked and changed), with one `hash-object` for the files.
 */
export async function recordSetupPaths(git: Git, at: GitAt): Promise<SetupPaths> {
  const [others, changed] = await Promise.all([
    git.out(['ls-files', '-z', '--others', '--exclude-standard', '--directory'], at),
    git.out(['diff-files', '-z', '--name-only'], at)
  ])
  const split = (out: string): string[] => out.split('\0').filter(Boolean)
  const dirs = split(others).filter((p) => p.endsWith('/'))
  const filePaths = [...split(others).filter((p) => !p.endsWith('/')), ...split(changed)]
  const blobs = await hashFiles(git, at, filePaths)
  return { dirs, files: filePaths.map((p, i) => ({ path: p, blob: blobs[i] })) }
}

/**
 * Pathspecs that keep the set-up's paths out of a task's `git add --all`: its directories
 * always; each of its files unless the task changed it (its content is not what the set-up left).
 */
export async function setupExcludes(git: Git, at: GitAt, paths: SetupPaths): Promise<string[]> {
  if (paths.dirs.length === 0 && paths.files.length === 0) return []
  const now = await hashFiles(
    git,
    at,
    paths.files.map((f) => f.path)
  )
  const kept = paths.files.filter((f, i) => now[i] === f.blob).map((f) => f.path)
  return [...paths.dirs, ...kept].map((p) => `:(exclude,literal,top)${p}`)
}

/**
 * The blob id of each file as `git add` would store it (filters applied); '' for one that is
 * gone or unreadable, or whose name holds a line break (hash-object reads names by line: such a
 * file is always left out).
 */
async function hashFiles(git: Git, at: GitAt, files: string[]): Promise<string[]> {
  const hashable = files.filter((p) => !p.includes('\n'))
  if (hashable.length === 0) return files.map(() => '')
  const ids = new Map<string, string>()
  // One at a time when a file is missing (hash-object stops at the first it cannot read).
  const out = await git.run(['hash-object', '--stdin-paths'], {
    ...at,
    stdin: `${hashable.join('\n')}\n`,
    okExitCodes: [128]
  })
  if (out.exitCode === 0) {
    const lines = out.stdout.split('\n').filter(Boolean)
    hashable.forEach((p, i) => ids.set(p, lines[i] ?? ''))
  } else {
    for (const p of hashable) {
      const one = await git.run(['hash-object', '--', p], { ...at, okExitCodes: [128] })
      ids.set(p, one.exitCode === 0 ? one.stdout.trim() : '')
    }
  }
  return files.map((p) => ids.get(p) ?? (p.includes('\n') ? 'unhashable' : ''))
}
