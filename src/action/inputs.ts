import * as core from '@actions/core'
import { chooseAgent, type AgentPreset } from '../core/agents/presets/index.js'
import type { Identity } from '../core/git/git.js'
import type { WorktreeModeOption } from '../core/git/worktree-mode.js'
import type { ConflictStrategy } from '../core/integrate.js'
import { OPTIONS, parseIdentity, readOptions, type Mode, type OptionName } from '../core/options.js'
import type { TaskStatus } from '../core/types.js'

export { list, MODES, parseIdentity, type Mode } from '../core/options.js'

export interface ActionInputs {
  /** run: everything on one runner; plan, task, merge: the three jobs of a matrix workflow. */
  mode: Mode
  /** The task a `task` job runs. */
  taskId?: string
  /**
   * Secure mode: task jobs write their result here (to upload as an artifact) instead of
   * pushing, and the merge job reads the downloaded artifacts from here.
   */
  resultsDir?: string
  /** The command each task's agent runs: agent-command, or the `agent` preset's command. */
  agentCommand: string
  /** The known CLI behind agentCommand (`agent` input, when agent-command is not set). */
  agentPreset?: AgentPreset
  token: string
  /**
   * Opens and updates the pull request instead of `token` (a token whose pull requests start
   * the repository's workflows); used for nothing else, never seen by agents.
   */
  prToken?: string
  issueNumber?: number
  baseBranch?: string
  maxParallel: number
  maxTasks: number
  taskTimeoutMs: number
  conflictStrategy: ConflictStrategy[]
  maxReruns: number
  resolveCommand?: string
  verify?: { command: string; mode: 'each' | 'final' }
  branchPrefix?: string
  commitAuthor: Identity
  draft: boolean
  failOn: Set<TaskStatus>
  triggerLabel: string
  maxIssues: number
  allowedBots: string[]
  /** Whole-run deadline in ms, if set. */
  deadlineMs?: number
  allowWorkflowChanges: boolean
  worktreeMode: WorktreeModeOption
  setupCommand?: string
  /** Directories every worktree shows (cone mode, as actions/checkout takes them); all if unset. */
  sparseCheckout?: string[]
  /** Agent starts per task at most (retries after transient failures); see docs/agents.md. */
  maxAttempts: number
  /** Least time between two agent starts. */
  startIntervalMs: number
  /** No agent starts once the agents' reported cost reaches it. */
  maxCostUsd?: number
  /** Tick the boxes of tasks whose work is on the integration branch. */
  tickBoxes: boolean
  /** Upload each task's log as a workflow artifact (where the runner offers artifacts). */
  uploadLogs: boolean
}

/**
 * Reads and validates every input; each error names the input and what it accepts. `env` is the
 * step's environment, where an `agent` preset's API key must be.
 */
export function getInputs(
  read: (name: string) => string = (n) => core.getInput(n),
  env: NodeJS.ProcessEnv = process.env
): ActionInputs {
  // Every input is defined once in core/options.ts (names, defaults, checks), shared with the CLI.
  const o = readOptions(Object.keys(OPTIONS) as OptionName[], read, (name) => `Input ${name}`)
  const mode = o.mode
  const taskId = o['task-id']
  if (mode === 'task' && !taskId)
    throw new Error(
      'Input task-id is required with mode: task: pass the task of this matrix job, e.g. task-id: ${{ matrix.task }}.'
    )
  if (taskId && mode !== 'task')
    throw new Error(`Input task-id is only used with mode: task (mode is ${mode}).`)
  const resultsDir = o['results-dir']
  if (resultsDir && mode !== 'task' && mode !== 'merge')
    throw new Error(
      `Input results-dir is only used with mode: task and mode: merge (secure mode), not with mode: ${mode}.`
    )
  // A plan job starts no agent, nor does a secure merge job; every other mode needs the command.
  const needsAgent = mode !== 'plan' && !(mode === 'merge' && resultsDir)
  const agent = needsAgent
    ? chooseAgent({ command: o['agent-command'], preset: o.agent, args: o['agent-args'] }, env)
    : undefined
  if (needsAgent && !agent) {
    throw new Error(
      'Input agent or agent-command is required: a known CLI (agent: claude-code, codex, aider or gemini), or the command to run in each task worktree, e.g. agent-command: claude -p --permission-mode acceptEdits < "$TASK_PROMPT_FILE".'
    )
  }
  const token = o['github-token']
  if (!token)
    throw new Error(
      'Input github-token is empty: pass a token (the default is ${{ github.token }}).'
    )
  const inputs: ActionInputs = {
    mode,
    taskId,
    resultsDir,
    agentCommand: agent?.command ?? o['agent-command'],
    agentPreset: agent?.preset,
    token,
    prToken: o['pr-token'],
    issueNumber: o['issue-number'],
    baseBranch: o['base-branch'],
    maxParallel: o['max-parallel'],
    maxTasks: o['max-tasks'],
    taskTimeoutMs: o['task-timeout-minutes'],
    conflictStrategy: o['conflict-strategy'],
    maxReruns: o['max-reruns'],
    resolveCommand: o['resolve-command'],
    verify: o['verify-command'] ? { command: o['verify-command'], mode: o.verify } : undefined,
    branchPrefix: o['branch-prefix'],
    triggerLabel: o['trigger-label'],
    maxIssues: o['max-issues'],
    allowedBots: o['allowed-bots'],
    deadlineMs: o['timeout-minutes'],
    allowWorkflowChanges: o['allow-workflow-changes'],
    maxAttempts: o['max-attempts'],
    startIntervalMs: o['start-interval-seconds'],
    maxCostUsd: o['max-cost-usd'],
    commitAuthor: o['commit-author'] ?? parseIdentity(OPTIONS['commit-author'].default),
    draft: o.draft,
    failOn: o['fail-on'],
    worktreeMode: o['worktree-mode'],
    setupCommand: o['setup-command'],
    sparseCheckout: o['sparse-checkout'],
    tickBoxes: o['tick-boxes'],
    uploadLogs: o['upload-logs']
  }
  if (inputs.mode === 'merge' && inputs.resultsDir) {
    // Secure mode keeps every agent-made program out of the job that holds the write token.
    const runsAgentCode = [
      ...inputs.conflictStrategy.filter((s) => s !== 'report').map((s) => `conflict-strategy ${s}`),
      ...(inputs.verify ? ['verify-command'] : []),
      ...(inputs.resolveCommand ? ['resolve-command'] : [])
    ]
    if (runsAgentCode.length)
      throw new Error(
        `With results-dir (secure mode) the merge job holds the write token and must run no agent-made code: remove ${runsAgentCode.join(', ')} from the merge job (conflicts are reported; verify in a read-only job).`
      )
  }
  return inputs
}
