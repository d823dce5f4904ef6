// Shared set-up for the adversarial suite (reliability guide, section 7): a bare origin, a shallow
// checkout made like actions/checkout's, the GitHub API stand-in, and the bundled action run as
// the runner runs it. Every helper observes what a user could observe: the remote's branches,
// the issue's comments, the pull requests, the step's log, outputs and exit code.
import { afterAll, afterEach } from '@jest/globals'
import { FakeGitHub } from '../../test-support/fake-github.js'
export { processesWithArgv } from '../../test-support/processes.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir,
  type Origin
} from '../../test-support/git-fixtures.js'
import {
  runAction,
  type RunActionOptions,
  type RunActionResult
} from '../../test-support/run-action.js'

export const ISSUE = 12
export const PREFIX = `fanout/issue-${ISSUE}`
export const INTEGRATION = `${PREFIX}/integration`
export const MARKER = `<!-- agent-fanout:status issue=${ISSUE} -->`

export const FILES = {
  'README.md': '# Demo\n\nStatus: draft\n',
  'src/a.txt': 'one\ntwo\nthree\n'
}

const servers: FakeGitHub[] = []

/** Registers afterEach (stop the API stand-ins) and afterAll (remove temp dirs). */
export function useCleanup(): void {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()))
  })
  afterAll(removeTempDirs)
}

export interface World {
  origin: Origin
  api: FakeGitHub
  workspace: string
  /** A directory agents may write evidence to ($SCRATCH). */
  scratch: string
  /** Env for the test's own git commands against the origin. */
  env: NodeJS.ProcessEnv
}

export async function world(
  issueBody: string,
  opts: { title?: string; files?: Record<string, string> } = {}
): Promise<World> {
  const origin = await createOrigin(opts.files ?? FILES, { commits: 2 })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({
    number: ISSUE,
    title: opts.title ?? 'Polish the demo',
    body: issueBody,
    user: { login: 'author' }
  })
  api.setPermission('maintainer', 'write')
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  return {
    origin,
    api,
    workspace,
    scratch: await tempDir('adv-scratch'),
    env: isolatedGitEnv(origin.home)
  }
}

export interface ActOptions {
  inputs?: Record<string, string>
  env?: Record<string, string>
  runnerTemp?: string
  workspace?: string
  timeoutMs?: number
  /** Run as the post step, with this saved state. */
  post?: { state: Record<string, string> }
  onSpawn?: RunActionOptions['onSpawn']
  wrap?: RunActionOptions['wrap']
}

/** The action run for an `issues: labeled` event by a maintainer with write permission. */
export async function act(
  w: World,
  agent: string,
  opts: ActOptions = {}
): Promise<RunActionResult> {
  const issue = w.api.issues.get(ISSUE)!
  return runAction({
    workspace: opts.workspace ?? w.workspace,
    inputs: { 'agent-command': agent, ...opts.inputs },
    eventName: 'issues',
    payload: {
      action: 'labeled',
      label: { name: 'agents' },
      issue: { number: ISSUE, title: issue.title, body: issue.body, user: { login: 'author' } },
      repository: { name: w.api.repo, owner: { login: w.api.owner }, default_branch: 'main' },
      sender: { login: 'maintainer', type: 'User' }
    },
    api: w.api,
    actor: 'maintainer',
    runnerTemp: opts.runnerTemp,
    timeoutMs: opts.timeoutMs,
    post: opts.post !== undefined,
    state: opts.post?.state,
    onSpawn: opts.onSpawn,
    wrap: opts.wrap,
    env: { SCRATCH: w.scratch, ...opts.env }
  })
}

/** Branch names on the origin (short form), sorted. */
export async function originBranches(w: World): Promise<string[]> {
  const out = await git(
    w.origin.bareDir,
    ['for-each-ref', '--format=%(refname:short)', 'refs/heads/'],
    w.env
  )
  return out.split('\n').filter(Boolean).sort()
}

/** `git show <ref>:<file>` on the origin. */
export function showOnOrigin(w: World, ref: string, file: string): Promise<string> {
  return git(w.origin.bareDir, ['show', `${ref}:${file}`], w.env)
}

export function statusComments(w: World): { id: number; body: string }[] {
  return w.api.comments.filter((c) => c.issue_number === ISSUE && c.body.includes(MARKER))
}

export interface TaskOutput {
  id: string
  title: string
  status: string
  branch: string
  changedFiles: string[]
  reason?: string
}

export function tasksOutput(r: RunActionResult): TaskOutput[] {
  return JSON.parse(r.outputs.tasks ?? '[]') as TaskOutput[]
}

export function statuses(r: RunActionResult): [string, string][] {
  return tasksOutput(r).map((t) => [t.id, t.status])
}

// The workflow commands the Actions runner (actions/runner, ActionCommandManager) registers.
const RUNNER_COMMANDS = new Set([
  'set-env',
  'set-output',
  'save-state',
  'add-mask',
  'add-path',
  'add-matcher',
  'remove-matcher',
  'debug',
  'warning',
  'error',
  'notice',
  'group',
  'endgroup',
  'echo',
  'stop-commands'
])

export interface RunnerCommand {
  name: string
  /** Everything after the command name: properties and data, as the runner would read them. */
  rest: string
  line: string
}

/**
 * The workflow commands the runner would execute from this step log, read the way
 * actions/runner reads it: lines split like .NET's StreamReader.ReadLine (CR, LF or CRLF);
 * `::name props::data` after leading whitespace (ActionCommand.TryParseV2) or, failing that,
 * the legacy `##[name props]data` anywhere in the line (ActionCommand.TryParse); and
 * `stop-commands` honoured (nothing runs until `::<token>::`).
 */
export function runnerCommands(stdout: string): RunnerCommand[] {
  const registered = new Set(RUNNER_COMMANDS)
  const found: RunnerCommand[] = []
  let stopToken: string | undefined
  for (const line of stdout.split(/\r\n|\r|\n/)) {
    let name: string | undefined
    let rest = ''
    const trimmed = line.trimStart()
    const v2 = trimmed.startsWith('::') ? trimmed.indexOf('::', 2) : -1
    if (v2 > 0) {
      const info = trimmed.slice(2, v2)
      const candidate = info.split(' ')[0]
      if (registered.has(candidate)) {
        name = candidate
        rest = trimmed.slice(2 + candidate.length)
      }
    }
    if (name === undefined) {
      const prefix = line.indexOf('##[')
      const bracket = prefix < 0 ? -1 : line.indexOf(']', prefix)
      if (bracket > 0) {
        const candidate = line.slice(prefix + 3, bracket).split(' ')[0]
        if (registered.has(candidate)) {
          name = candidate
          rest = line.slice(prefix + 3 + candidate.length)
        }
      }
    }
    if (name === undefined) continue
    if (stopToken !== undefined) {
      if (name === stopToken) {
        registered.delete(stopToken)
        stopToken = undefined
      }
      continue
    }
    found.push({ name, rest, line })
    if (name === 'stop-commands') {
      const token = rest.replace(/^[^:\]]*(::|\])/, '')
      if (token) {
        stopToken = token
        registered.add(token)
      }
    }
  }
  return found
}

/** The markdown section of the report that starts with `heading` (up to the next `####`). */
export function section(body: string, heading: string): string {
  const start = body.indexOf(heading)
  if (start < 0) return ''
  const next = body.indexOf('\n#### ', start + heading.length)
  return body.slice(start, next < 0 ? undefined : next)
}
