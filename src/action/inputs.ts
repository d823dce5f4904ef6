import * as core from '@actions/core'
import { chooseAgent, type AgentPreset } from '../core/agents/presets/index.js'
import type { Identity } from '../core/git/git.js'
import type { TaskStatus } from '../core/types.js'

import { CONFLICT_STRATEGIES, type ConflictStrategy } from '../core/integrate.js'
const FAIL_ON_VALUES = ['failed', 'conflicted', 'broke-verify', 'no-changes', 'skipped'] as const

export const MODES = ['run', 'plan', 'task', 'merge'] as const
export type Mode = (typeof MODES)[number]

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
  const mode = (read('mode').trim().toLowerCase() || 'run') as Mode
  if (!MODES.includes(mode))
    throw new Error(
      `Input mode must be one of ${MODES.join(', ')}, got "${read('mode')}". run does everything on one runner; plan, task and merge are the jobs of a matrix workflow (see examples/matrix.yml).`
    )
  const taskId = read('task-id').trim() || undefined
  if (mode === 'task' && !taskId)
    throw new Error(
      'Input task-id is required with mode: task: pass the task of this matrix job, e.g. task-id: ${{ matrix.task }}.'
    )
  if (taskId && mode !== 'task')
    throw new Error(`Input task-id is only used with mode: task (mode is ${mode}).`)
  const resultsDir = read('results-dir').trim() || undefined
  if (resultsDir && mode !== 'task' && mode !== 'merge')
    throw new Error(
      `Input results-dir is only used with mode: task and mode: merge (secure mode), not with mode: ${mode}.`
    )
  // A plan job starts no agent, nor does a secure merge job; every other mode needs the command.
  const needsAgent = mode !== 'plan' && !(mode === 'merge' && resultsDir)
  const agent = needsAgent
    ? chooseAgent(
        { command: read('agent-command'), preset: read('agent'), args: read('agent-args') },
        env
      )
    : undefined
  if (needsAgent && !agent) {
    throw new Error(
      'Input agent or agent-command is required: a known CLI (agent: claude-code, codex, aider or gemini), or the command to run in each task worktree, e.g. agent-command: claude -p --permission-mode acceptEdits < "$TASK_PROMPT_FILE".'
    )
  }
  const agentCommand = agent?.command ?? read('agent-command')
  const token = read('github-token')
  if (!token)
    throw new Error(
      'Input github-token is empty: pass a token (the default is ${{ github.token }}).'
    )
  const issueText = read('issue-number')
  let issueNumber: number | undefined
  if (issueText) {
    issueNumber = Number(issueText.replace(/^#/, ''))
    if (!Number.isInteger(issueNumber) || issueNumber <= 0) {
      throw new Error(`Input issue-number must be an issue number like 42, got "${issueText}".`)
    }
  }
  const inputs: ActionInputs = {
    mode,
    taskId,
    resultsDir,
    agentCommand,
    agentPreset: agent?.preset,
    token,
    issueNumber,
    baseBranch: read('base-branch') || undefined,
    maxParallel: wholeNumber(read, 'max-parallel', 4, 1, 64),
    maxTasks: wholeNumber(read, 'max-tasks', 20, 1, 500),
    taskTimeoutMs: positiveNumber(read, 'task-timeout-minutes', 30) * 60_000,
    conflictStrategy: list(read('conflict-strategy') || 'report').map((s) => {
      if (!(CONFLICT_STRATEGIES as readonly string[]).includes(s)) {
        throw new Error(
          `Input conflict-strategy has an unknown strategy "${s}"; supported: ${CONFLICT_STRATEGIES.join(', ')}.`
        )
      }
      return s as ConflictStrategy
    }),
    maxReruns: wholeNumber(read, 'max-reruns', 1, 0, 5),
    resolveCommand: read('resolve-command') || undefined,
    verify: verifyInput(read),
    branchPrefix: read('branch-prefix') || undefined,
    triggerLabel: read('trigger-label').trim() || 'agents',
    maxIssues: wholeNumber(read, 'max-issues', 1, 1, 50),
    allowedBots: list(read('allowed-bots')).map((b) => b.toLowerCase()),
    deadlineMs: read('timeout-minutes')
      ? positiveNumber(read, 'timeout-minutes', 0) * 60_000
      : undefined,
    allowWorkflowChanges: parseBoolean(read, 'allow-workflow-changes', false),
    commitAuthor: parseIdentity(
      read('commit-author') ||
        'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>'
    ),
    draft: parseBoolean(read, 'draft', false),
    tickBoxes: parseBoolean(read, 'tick-boxes', true),
    uploadLogs: parseBoolean(read, 'upload-logs', true),
    failOn: new Set(
      list(read('fail-on')).flatMap((s) => {
        if (s === 'none') return []
        if (!(FAIL_ON_VALUES as readonly string[]).includes(s)) {
          throw new Error(
            `Input fail-on has an unknown outcome "${s}"; use any of ${FAIL_ON_VALUES.join(', ')}, or none.`
          )
        }
        return [s as TaskStatus]
      })
    )
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

/** Comma- or newline-separated list, trimmed, empties dropped. */
export function list(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export function parseIdentity(text: string): Identity {
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(text)
  if (!match)
    throw new Error(`Input commit-author must look like "Name <email@example.com>", got "${text}".`)
  return { name: match[1], email: match[2] }
}

function verifyInput(read: (n: string) => string): ActionInputs['verify'] {
  const command = read('verify-command')
  const mode = (read('verify') || 'final').trim().toLowerCase()
  if (mode !== 'each' && mode !== 'final')
    throw new Error(`Input verify must be each or final, got "${mode}".`)
  return command.trim() ? { command, mode } : undefined
}

function wholeNumber(
  read: (n: string) => string,
  name: string,
  fallback: number,
  min: number,
  max: number
): number {
  const text = read(name)
  if (!text) return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`Input ${name} must be a whole number from ${min} to ${max}, got "${text}".`)
  }
  return value
}

function positiveNumber(read: (n: string) => string, name: string, fallback: number): number {
  const text = read(name)
  if (!text) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`Input ${name} must be a positive number, got "${text}".`)
  return value
}

function parseBoolean(read: (n: string) => string, name: string, fallback: boolean): boolean {
  const text = read(name).trim().toLowerCase()
  if (!text) return fallback
  if (text === 'true') return true
  if (text === 'false') return false
  throw new Error(`Input ${name} must be true or false, got "${text}".`)
}
