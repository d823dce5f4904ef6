import { spawn } from 'node:child_process'

export interface GitResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface GitRunOptions {
  /** Directory to run in (defaults to the repository). */
  cwd?: string
  /** Exit codes that are answers, not failures (e.g. 1 for `merge-tree` conflicts). */
  okExitCodes?: number[]
  /** Extra environment for this call only (e.g. credentials for a push). */
  env?: NodeJS.ProcessEnv
  /** Extra `-c key=value` settings for this call, passed through the environment, not argv. */
  config?: Record<string, string>
  stdin?: string
}

export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly result: GitResult
  ) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-6).join('\n')
    super(`git ${args[0]} failed (exit ${result.exitCode}): ${detail}`)
    this.name = 'GitError'
  }
}

/** Identity used for the commits the engine makes. */
export interface Identity {
  name: string
  email: string
}

// Settings forced on every git command the engine runs. Agents share the repository's .git
// with us, so anything they plant in its config or hooks must not execute in our commands,
// and background maintenance must not repack under parallel writers.
export const SAFE_GIT_CONFIG: Readonly<Record<string, string>> = {
  'core.hooksPath': '/dev/null',
  'core.fsmonitor': 'false',
  'core.untrackedCache': 'false',
  'core.pager': 'cat',
  'credential.helper': '',
  'protocol.ext.allow': 'never',
  'gc.auto': '0',
  'maintenance.auto': 'false',
  'commit.gpgSign': 'false',
  'tag.gpgSign': 'false',
  'advice.detachedHead': 'false',
  'init.defaultBranch': 'main'
}

// Environment variables that would point git somewhere else than the repository we mean.
const REDIRECTING_GIT_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_COMMON_DIR',
  'GIT_PREFIX',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE',
  'GIT_CEILING_DIRECTORIES',
  // git 2.40+: read .gitattributes from this tree instead of the work tree (merges read them
  // from the integration branch itself, git/attributes.ts).
  'GIT_ATTR_SOURCE'
]

/**
 * Encodes config as GIT_CONFIG_COUNT/KEY_n/VALUE_n, which beats every config file. An
 * `http[.<url>].extraheader` given here replaces the values config files give the same key
 * instead of adding to them (an empty value first resets git's list): a persisted Authorization
 * header plus ours would be two Authorization headers on one request.
 */
export function configEnv(config: Record<string, string>): NodeJS.ProcessEnv {
  const entries = Object.entries(config).flatMap(([key, value]): [string, string][] =>
    /^http\..*extraheader$/i.test(key) && value !== ''
      ? [
          [key, ''],
          [key, value]
        ]
      : [[key, value]]
  )
  const env: NodeJS.ProcessEnv = { GIT_CONFIG_COUNT: String(entries.length) }
  entries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key
    env[`GIT_CONFIG_VALUE_${i}`] = value
  })
  return env
}

/**
 * Thin wrapper over the git binary: argv arrays only (no shell), a scrubbed environment with
 * the safety settings above, and errors that carry git's own message.
 */
export class Git {
  private readonly baseEnv: NodeJS.ProcessEnv

  constructor(
    readonly repoDir: string,
    options: {
      env?: NodeJS.ProcessEnv
      identity?: Identity
      gitPath?: string
      secrets?: string[]
    } = {}
  ) {
    this.gitPath = options.gitPath ?? 'git'
    const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) }
    // Config an agent plants in the shared .git (a merge driver, a filter) could run a command
    // inside our git calls: it must find no token there. Credentials are passed per call.
    const secrets = (options.secrets ?? []).filter((s) => s.length >= 8)
    for (const [name, value] of Object.entries(env)) {
      if (/^(INPUT_|ACTIONS_RUNTIME_TOKEN$|ACTIONS_ID_TOKEN_REQUEST_)/i.test(name)) delete env[name]
      else if (value && secrets.some((secret) => value.includes(secret))) delete env[name]
    }
    for (const name of REDIRECTING_GIT_VARS) delete env[name]
    for (const name of Object.keys(env))
      if (/^GIT_CONFIG_(COUNT|KEY_|VALUE_)/.test(name)) delete env[name]
    env.GIT_TERMINAL_PROMPT = '0'
    env.GCM_INTERACTIVE = 'Never'
    env.GIT_OPTIONAL_LOCKS = '0'
    env.LC_ALL = 'C'
    if (options.identity) {
      env.GIT_AUTHOR_NAME = options.identity.name
      env.GIT_AUTHOR_EMAIL = options.identity.email
      env.GIT_COMMITTER_NAME = options.identity.name
      env.GIT_COMMITTER_EMAIL = options.identity.email
    }
    this.baseEnv = env
  }

  readonly gitPath: string

  /** Runs git; throws GitError unless the exit code is 0 or listed in okExitCodes. */
  async run(args: string[], options: GitRunOptions = {}): Promise<GitResult> {
    const result = await this.spawn(args, options)
    if (result.exitCode !== 0 && !(options.okExitCodes ?? []).includes(result.exitCode)) {
      throw new GitError(args, result)
    }
    return result
  }

  /** Runs git and returns trimmed stdout. */
  async out(args: string[], options: GitRunOptions = {}): Promise<string> {
    return (await this.run(args, options)).stdout.trim()
  }

  /** Runs git and returns stdout as bytes (blobs need not be UTF-8); throws like run(). */
  async bytes(args: string[], options: GitRunOptions = {}): Promise<Buffer> {
    const result = await this.spawn(args, options)
    if (result.exitCode !== 0 && !(options.okExitCodes ?? []).includes(result.exitCode)) {
      throw new GitError(args, result)
    }
    return result.raw
  }

  /** True when git exits 0, false on exit 1; anything else is an error. */
  async test(args: string[], options: GitRunOptions = {}): Promise<boolean> {
    const result = await this.run(args, {
      ...options,
      okExitCodes: [1, ...(options.okExitCodes ?? [])]
    })
    return result.exitCode === 0
  }

  private spawn(args: string[], options: GitRunOptions): Promise<GitResult & { raw: Buffer }> {
    const env = {
      ...this.baseEnv,
      ...options.env,
      ...configEnv({ ...SAFE_GIT_CONFIG, ...options.config })
    }
    return new Promise((resolve, reject) => {
      const child = spawn(this.gitPath, args, {
        cwd: options.cwd ?? this.repoDir,
        env,
        stdio: ['pipe', 'pipe', 'pipe']
      })
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
      child.on('error', (error) => reject(new Error(`could not run git: ${error.message}`)))
      child.on('close', (code, signal) => {
        const raw = Buffer.concat(out)
        resolve({
          exitCode: code ?? (signal ? 128 : 1),
          stdout: raw.toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          raw
        })
      })
      child.stdin.on('error', () => undefined)
      child.stdin.end(options.stdin ?? '')
    })
  }
}

/** Parses `git version 2.39.5` (and vendor suffixes) into [major, minor, patch]. */
export function parseGitVersion(text: string): [number, number, number] | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  if (!match) return undefined
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)]
}

/** merge-tree --write-tree (computing merges without a checkout) arrived in git 2.38. */
export const MIN_GIT_VERSION: [number, number, number] = [2, 38, 0]

export async function assertGitVersion(git: Git): Promise<string> {
  const text = await git.out(['version'], { cwd: process.cwd() })
  const version = parseGitVersion(text)
  const ok =
    version !== undefined &&
    (version[0] !== MIN_GIT_VERSION[0]
      ? version[0] > MIN_GIT_VERSION[0]
      : version[1] >= MIN_GIT_VERSION[1])
  if (!ok) {
    throw new Error(
      `agent-fanout needs git ${MIN_GIT_VERSION.slice(0, 2).join('.')} or newer (for merge-tree --write-tree); found "${text}". Install a newer git on the runner before this step.`
    )
  }
  return text
}
