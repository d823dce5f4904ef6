import { configEnv } from '../git/git.js'
import type { Identity } from '../git/git.js'

/** What the engine tells an agent about its task (all values are data, never code). */
export interface AgentTaskVars {
  TASK_ID: string
  TASK_TITLE: string
  TASK_BODY: string
  TASK_PROMPT_FILE: string
  TASK_BRANCH: string
  TASK_WORKTREE: string
  ISSUE_NUMBER: string
  ISSUE_TITLE: string
  BASE_BRANCH: string
  BASE_SHA: string
}

// Variables an agent must not inherit: the action's inputs (they carry the token), the
// runner's own credentials, file commands that would let an agent set variables or PATH
// for later steps of the job, and git variables that would redirect its git commands.
const DROPPED = [
  /^INPUT_/i,
  /^ACTIONS_RUNTIME_TOKEN$/,
  /^ACTIONS_ID_TOKEN_REQUEST_/,
  /^GITHUB_(ENV|PATH|OUTPUT|STATE|STEP_SUMMARY)$/,
  /^GIT_(DIR|WORK_TREE|INDEX_FILE|COMMON_DIR|PREFIX|OBJECT_DIRECTORY|NAMESPACE)$/,
  /^GIT_CONFIG_(COUNT|KEY_\d+|VALUE_\d+|PARAMETERS)$/,
  /^STATE_/
]

/**
 * True for a variable agents must not see: one in DROPPED, or one whose value contains one of
 * `secrets` (a token a user also exported as GH_TOKEN must not slip through under another
 * name). The action's own process hides the same set from its environment block (seal-env.ts).
 */
export function withheldFromAgents(name: string, value: string, secrets: string[]): boolean {
  return (
    DROPPED.some((pattern) => pattern.test(name)) ||
    secrets.some((secret) => secret.length >= 8 && value.includes(secret))
  )
}

/**
 * The runner's environment minus what withheldFromAgents names. RUNNER_TRACKING_ID is kept on
 * purpose: the runner's end-of-job sweep finds leftover agent processes by it. Used for agents
 * and for verify commands alike.
 */
export function scrubEnv(
  base: NodeJS.ProcessEnv,
  options: {
    secrets: string[]
    identity: Identity
    marker: { name: string; value: string }
    /** Config the agent's git needs in its worktree (a sparse cone: git/sparse.ts). */
    gitConfig?: Record<string, string>
  }
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || withheldFromAgents(name, value, options.secrets)) continue
    env[name] = value
  }
  // Agents commit too: give them an identity unless the workflow set one.
  env.GIT_AUTHOR_NAME ??= options.identity.name
  env.GIT_AUTHOR_EMAIL ??= options.identity.email
  env.GIT_COMMITTER_NAME ??= options.identity.name
  env.GIT_COMMITTER_EMAIL ??= options.identity.email
  env.GIT_TERMINAL_PROMPT = '0'
  // No background gc/maintenance in the shared object store while other agents write to it.
  Object.assign(
    env,
    configEnv({ 'gc.auto': '0', 'maintenance.auto': 'false', ...options.gitConfig })
  )
  env[options.marker.name] = options.marker.value
  return env
}

/** The environment an agent runs with: scrubEnv plus the task's variables. */
export function buildAgentEnv(
  base: NodeJS.ProcessEnv,
  task: AgentTaskVars & Record<string, string>,
  options: Parameters<typeof scrubEnv>[1]
): NodeJS.ProcessEnv {
  return { ...scrubEnv(base, options), ...task }
}
