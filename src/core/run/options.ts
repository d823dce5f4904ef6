// What a run is asked to do: the engine's one input. The action, the matrix jobs and the CLI
// each build it from their own world (inputs, the issue, earlier state).

import type { AgentPreset } from '../agents/presets/index.js'
import type { RunWatcher } from '../events.js'
import type { Git, Identity } from '../git/git.js'
import type { RemoteAuth } from '../git/submodule-remotes.js'
import type { WorktreeModeOption } from '../git/worktree-mode.js'
import type { ConflictStrategy } from '../integrate.js'
import type { Logger, Task, TaskResult } from '../types.js'

/** What to do with one task this run (default: run its agent). */
export type TaskPlan =
  | { mode: 'run' }
  /**
   * An earlier run's successful branch, merged again without starting the agent; or a branch
   * holding commits by people (`byPeople` says so for the report: see people.ts).
   */
  | { mode: 'reuse'; tip: string; changedFiles: string[]; durationMs: number; byPeople?: string }
  /** Work an agent did elsewhere (a matrix task job), merged here as if it had run here. */
  | {
      mode: 'merge'
      tip: string
      changedFiles: string[]
      durationMs: number
      logTail?: string
      /** What its agent reported there (cost, tokens, summary), and its agent starts. */
      agentReport?: TaskResult['agentReport']
      tries?: TaskResult['tries']
    }
  /** Neither run nor merged: an earlier result shown as it was. */
  | { mode: 'keep'; result: TaskResult }
  /** Taken out on request; its branch is left alone. */
  | { mode: 'drop' }

export interface EngineOptions {
  git: Git
  logger: Logger
  issue: { number: number; title: string; url?: string }
  /** Every task item of the list, checked ones included (they are reported as skipped). */
  tasks: Task[]
  plan?: Map<string, TaskPlan>
  baseBranch: string
  /** Commit every task branch starts from; must exist locally. */
  baseSha: string
  /** Where the integration branch starts, when not at the base (commits by people: people.ts). */
  integrationStart?: string
  /**
   * What the local integration branch must still point at when the run updates it ('' for "must
   * not exist"), so that commits made on it meanwhile are not overwritten. Unset: not checked.
   */
  integrationSeen?: string
  agentCommand: string
  /**
   * The known CLI behind agentCommand (the `agent` input): each of its agents then gets private
   * config directories of its own, and the files it is known to drop stay out of task commits.
   */
  agentPreset?: AgentPreset
  /** Agent starts per task at most: retries after transient failures (default 2; docs/agents.md). */
  maxAttempts?: number
  /** Least time between two agent starts (default 0). */
  startIntervalMs?: number
  /** No agent starts once the agents' reported cost reaches it. */
  maxCostUsd?: number
  /** The retries' backoff (default 10 s, doubling, up to 2 min); tests shorten it. */
  retryDelay?: { baseDelayMs?: number; maxDelayMs?: number }
  maxParallel: number
  taskTimeoutMs: number
  /** Between SIGTERM and SIGKILL when an agent is ended. */
  killGraceMs?: number
  branchPrefix: string
  /** Private directory for this issue's worktrees, prompts and logs (outside the workspace). */
  workDir: string
  identity: Identity
  /** Environment agents start from (scrubbed further). */
  agentBaseEnv: NodeJS.ProcessEnv
  /** Values that must never reach an agent's environment (tokens). */
  secrets: string[]
  /** Tried in order on a conflicting task; default ['report']. */
  conflictStrategies?: readonly ConflictStrategy[]
  maxReruns?: number
  /** Command for the `agent` strategy; default agentCommand. */
  resolveCommand?: string
  verify?: { command: string; mode: 'each' | 'final' }
  /** Directories every worktree shows (the `sparse-checkout` input; tasks narrow it by `paths:`). */
  sparseCheckout?: string[]
  /** Fail tasks that change .github/workflows/ (pushing those needs the `workflows` permission). */
  blockWorkflowChanges?: boolean
  /** Ends agents when aborted; abort with reason 'deadline' for the run's time limit. */
  signal?: AbortSignal
  /**
   * Run the agents and stop there (a matrix task job): no verify, no integration branch; tasks
   * that produced work end as `ready`, with their branch pointing at it.
   */
  agentsOnly?: boolean
  /**
   * Takes the deletion of the worktrees' files, so that the run can return (and its result be
   * published) while a large checkout's thousands of files are still being unlinked: git no
   * longer knows the worktrees by then, and the caller awaits the promise (it never rejects)
   * before it exits. Without it, runFanout returns once the files are gone.
   */
  deferDeletion?: (deleted: Promise<void>) => void
  /** Told what happens while the run goes (events.ts): progress lines, a live status comment. */
  watch?: RunWatcher
  /** worktree-mode: `auto` (default), `overlay` or `checkout` (docs/worktrees.md). */
  worktreeMode?: WorktreeModeOption
  /**
   * Config that authenticates git to a remote URL other than origin's (a submodule's, asked
   * whether it has a task's submodule commit: git/submodule-remotes.ts); `{}` for none. Used
   * only in the engine's own git commands, never where an agent can see it.
   */
  remoteAuth?: RemoteAuth
  /** setup-command: run once before any agent, where the agents' files come from (setup.ts). */
  setupCommand?: string
}
