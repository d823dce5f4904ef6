// Shared vocabulary of the engine. Nothing here knows about GitHub: the action and the CLI
// are adapters that turn their world into these types and back.

import type { AgentReport } from './agents/presets/types.js'

/** Where logs go. The action passes @actions/core, the CLI a console logger, tests a recorder. */
export interface Logger {
  debug(message: string): void
  info(message: string): void
  warning(message: string): void
  error(message: string): void
  /** Runs fn inside a collapsible log group (a plain heading outside Actions). */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>
}

/** One task from the issue's task list. */
export interface Task {
  /** Stable ID, safe in branch names and paths (see tasks/parse.ts for the rules). */
  id: string
  /** Whether the ID was written in the item (`T1:`) or derived from its position. */
  idSource: 'explicit' | 'position'
  /** 1-based position among all top-level task items, checked ones included. */
  position: number
  /** First line of the item, ID prefix removed, as plain text. */
  title: string
  /** The item's nested content (sub-items, paragraphs) as markdown; may be empty. */
  body: string
  /** Checked items are done: they keep their position and ID but are not run. */
  checked: boolean
  /** Set when the item is only a reference to another issue (`- [ ] #123`). */
  reference?: { issueNumber: number }
  /** Set when the task is a GitHub sub-issue of the issue (tasks/sub-issues.ts); no box to tick. */
  subIssue?: { issueNumber: number }
  /** IDs of tasks that must finish and merge cleanly before this one starts (`(after T1)`). */
  dependsOn?: string[]
  /** Directories its worktree shows (a nested `paths:` line; narrows `sparse-checkout`). */
  paths?: string[]
}

/** How a task ended; the `merged*` ones say how it got into the integration branch. */
export type TaskStatus =
  | 'merged'
  | 'merged-after-rerun'
  | 'merged-after-resolve'
  /** A person merged its branch into the integration branch; a later run found it there. */
  | 'merged-by-hand'
  | 'conflicted'
  | 'broke-verify'
  | 'failed'
  | 'no-changes'
  | 'skipped'
  /** Matrix mode only: planned, its task job has not reported yet. */
  | 'queued'
  /** Matrix mode only: its task job pushed work that the merge job has yet to merge. */
  | 'ready'

export const MERGED_STATUSES: readonly TaskStatus[] = [
  'merged',
  'merged-after-rerun',
  'merged-after-resolve',
  'merged-by-hand'
]

export function isMerged(status: TaskStatus): boolean {
  return MERGED_STATUSES.includes(status)
}

/** One conflict strategy tried on a task, and what came of it. */
export interface StrategyAttempt {
  strategy: 'rerun' | 'agent' | 'report'
  outcome: string
}

/** A conflict found while merging a task branch into the integration branch. */
export interface ConflictInfo {
  /** Paths git reported as conflicted (may be empty for some non-content conflicts). */
  files: string[]
  /** Conflict regions with a little context, per file, already trimmed. */
  hunks: { file: string; text: string }[]
  /** git's informational messages (CONFLICT (content): ..., rename/delete, ...). */
  messages: string[]
  /** Tasks already merged that changed the conflicting files. */
  withTasks?: { id: string; branch: string }[]
}

export interface TaskResult {
  id: string
  title: string
  status: TaskStatus
  /** Task branch (local in the CLI, pushed in the action when it holds work). */
  branch: string
  /** Paths changed by the task relative to the base commit. */
  changedFiles: string[]
  durationMs: number
  /** Commit at the tip of the task branch, when the agent produced one. */
  commit?: string
  /** Human-readable reason for failed / skipped / no-changes. */
  reason?: string
  /** The tasks it builds on (`(after T1)`): it started from their merged work. */
  dependsOn?: string[]
  /** Agent exit code, or null when it was killed. */
  exitCode?: number | null
  timedOut?: boolean
  /** Last lines of the agent's output (for failed tasks). */
  logTail?: string
  /** Full log on the runner. */
  logFile?: string
  conflict?: ConflictInfo
  /** Conflict strategies tried, in order, when its branch conflicted. */
  attempts?: StrategyAttempt[]
  /** Tail of the verify command's output when this task's merge broke it. */
  verifyTail?: string
  /** True when the result comes from an earlier run (the agent was not started again). */
  reused?: boolean
  /**
   * What the agent said about its work ($TASK_RESULT_FILE, or its CLI's own output read by the
   * preset): summary, cost, tokens. Untrusted text: render it as text, never as markdown.
   */
  agentReport?: AgentReport
  /** Each agent start for this task (retries after transient failures), oldest first. */
  tries?: { attempt: number; outcome: string }[]
  /** When its agent started and ended (epoch ms), for live status and the timeline. */
  startedAt?: number
  finishedAt?: number
  /** Where its full log can be read (a workflow artifact in the action). */
  logUrl?: string
  /**
   * Disk its worktree took when its agent was done (bytes): what the task changed for an overlay
   * worktree, the whole tree for a checkout.
   */
  diskBytes?: number
}

export interface VerifyResult {
  mode: 'each' | 'final'
  command: string
  ok: boolean
  /** Tail of its output. */
  tail: string
  exitCode: number | null
  durationMs: number
  /** Set when it was not run as asked, e.g. the base itself fails it. */
  note?: string
}

export interface FanoutResult {
  baseBranch: string
  baseSha: string
  integrationBranch: string
  /** Tip of the integration branch (equals baseSha when nothing merged). */
  integrationSha: string
  tasks: TaskResult[]
  /** The verify command's verdict on the integration branch (verify: final, or the base check). */
  verify?: VerifyResult
  /** Things that went wrong around the tasks (tampering with the shared .git, moved refs). */
  warnings?: string[]
}
