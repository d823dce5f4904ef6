/**
 * A known agent CLI, described as data: how to run it non-interactively on a runner, which
 * variable carries its key, and what it needs to run next to copies of itself without sharing
 * state. One small module per CLI (see index.ts); adding one is adding a module.
 */
export interface AgentPreset {
  /** The `agent` input's value, e.g. `claude-code`. */
  name: string
  /** What the README calls it. */
  title: string
  /** How a workflow installs it (documentation only: the action installs nothing). */
  install: string
  /**
   * The bash command run in each task's worktree. `args` (the `agent-args` input, trusted
   * workflow text like `agent-command`) goes where the CLI takes options. The prompt is read
   * from the file $TASK_PROMPT_FILE names, never spliced into the command.
   */
  command(args: string): string
  /**
   * Environment variables that carry the API key, in order of preference: the first one set is
   * used. None set: the run stops before it starts, naming them. `handAs` is the variable the
   * CLI reads, when it differs (Codex reads CODEX_API_KEY, not OPENAI_API_KEY).
   */
  key: { variables: string[]; handAs?: string }
  /**
   * Per-task private directories, made fresh under the task's own state directory (outside its
   * worktree) before the agent starts and deleted after it: variable -> subdirectory. Parallel
   * agents then share no config file, lock, session store or memory.
   */
  privateDirs: Record<string, string>
  /** Files written into a private directory before the agent starts: `<subdir>/<path>` -> text. */
  seedFiles?: Record<string, string>
  /** Fixed variables: auto-memory off, no non-essential traffic, no update checks. */
  env: Record<string, string>
  /** Files the CLI drops in the worktree that never belong in the task's commit (git globs). */
  excludes: string[]
  /**
   * Output (log) patterns of a transient failure: rate limited (429), overloaded (529, 503),
   * or the network. Used to tell a failure worth retrying from one that is not.
   */
  transient: RegExp[]
  /** Reads cost and tokens from the CLI's machine-readable output (the task's log). */
  parseResult(log: string): AgentReport | undefined
  /** Notes for the README: permissions, sandbox, root. */
  notes: string[]
}

/**
 * What an agent reports about its work: the schema of $TASK_RESULT_FILE, which any agent may
 * write (presets fill it from their CLI's output). Every field is optional.
 */
export interface AgentReport {
  /** One or two sentences: what the agent did. */
  summary?: string
  costUsd?: number
  inputTokens?: number
  outputTokens?: number
  model?: string
  turns?: number
  /** Tool calls the CLI refused for lack of permission (the work may be incomplete). */
  permissionDenials?: string[]
}
