import type { Identity } from './git/git.js'
import { WORKTREE_MODES, type WorktreeModeOption } from './git/worktree-mode.js'
import { parseSparseDirs } from './git/sparse.js'
import { CONFLICT_STRATEGIES, type ConflictStrategy } from './integrate.js'
import type { TaskStatus } from './types.js'

/**
 * Every option of a run, defined once: the action's inputs (action.yml, checked against this
 * list by __tests__/options.test.ts) and the CLI's flags are both read through it, so the two
 * front doors cannot drift in names, defaults, accepted values or meaning.
 *
 * A new option: add an entry here (with `cli: false` when it needs GitHub or a runner), the same
 * input to action.yml (word for word), and read it where it is used: src/action/inputs.ts for
 * the action; the CLI's run, retry and drop accept every option with `cli` set by themselves
 * (src/cli/args.ts, help included), and src/cli/run.ts hands it to the engine.
 */
export interface OptionDef<T> {
  /** Shown in action.yml (the same text, word for word) and, first sentence, in CLI help. */
  description: string
  /** The default as action.yml writes it: what an unset option means. */
  default: string
  /** The accepted values, when they are a fixed list (for help and messages). */
  values?: readonly string[]
  /**
   * The CLI's flag for it (`--<name>` unless `flag` says otherwise), or false for action-only
   * options. `default` overrides the action's default where a local run has a better one.
   */
  cli:
    | false
    | {
        flag?: string
        aliases?: readonly string[]
        default?: string
        /** How the value is shown in help (`<n>`). */
        arg?: string
        /** Help text where the description's first sentence speaks of GitHub. */
        help?: string
      }
  /**
   * Text to value; `label` is how the front door names the option in an error ("Input
   * max-parallel", "--max-parallel"), so every message says which option was wrong.
   */
  parse(text: string, label: string): T
}

export const FAIL_ON_VALUES = [
  'failed',
  'conflicted',
  'broke-verify',
  'no-changes',
  'skipped'
] as const satisfies readonly TaskStatus[]

export const MODES = ['run', 'plan', 'task', 'merge'] as const
export type Mode = (typeof MODES)[number]

const BOT = 'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>'

/** Option text as given, trimmed. */
const text = (t: string): string => t
const optional = (t: string): string | undefined => t.trim() || undefined

export const OPTIONS = {
  'agent-command': {
    description:
      "Command run in each task's worktree through `bash -c`. The task reaches it only as data: environment variables (TASK_ID, TASK_TITLE, TASK_BODY, TASK_PROMPT_FILE, ...) and a prompt file, never spliced into the command. Required in every mode but `plan`, unless `agent` names a preset; when both are set, agent-command wins.",
    default: '',
    // The CLI's --agent has always been the command; the action's `agent` is --agent-preset.
    cli: { flag: 'agent', aliases: ['agent-command'], arg: '<command>' },
    parse: text
  },
  agent: {
    description:
      "A known agent CLI to run in each task's worktree, with the command line, key check and per-task isolation it needs: `claude-code`, `codex`, `aider` or `gemini` (see the README's presets table). Install the CLI in an earlier step. `agent-command`, when set, wins.",
    default: '',
    values: ['claude-code', 'codex', 'aider', 'gemini'],
    cli: { flag: 'agent-preset', arg: '<name>' },
    // Checked together with agent-command and the key by chooseAgent (agents/presets).
    parse: text
  },
  'agent-args': {
    description:
      'Options appended to the `agent` preset\'s command line, as shell words (trusted workflow text, like agent-command), e.g. `--model sonnet --allowedTools "Bash(npm test *)"`.',
    default: '',
    cli: {
      arg: '<words>',
      help: "Options appended to the preset's command line, as shell words; pass them with = (--agent-args='--model sonnet')."
    },
    parse: text
  },
  'max-attempts': {
    description:
      'Agent starts per task at most: a task whose agent fails for a passing reason (rate limit, overload, network; exit status 75 for agent-command) starts again in a fresh worktree after a backoff. 1 turns retries off. See docs/agents.md.',
    default: '2',
    cli: { arg: '<n>' },
    parse: wholeNumber(2, 1, 10)
  },
  'start-interval-seconds': {
    description:
      'Least time between two agent starts, so that parallel agents do not reach the API in the same second. 0 (default) starts them as max-parallel allows.',
    default: '0',
    cli: { arg: '<seconds>' },
    /** In milliseconds. */
    parse: (t: string, label: string): number => {
      if (!t.trim()) return 0
      const value = Number(t)
      if (!Number.isFinite(value) || value < 0)
        throw new Error(`${label} must be a number of 0 or more, got "${t}".`)
      return Math.round(value * 1000)
    }
  },
  'max-cost-usd': {
    description:
      'Once the cost the agents reported reaches this many US dollars, no further agent starts; the tasks not started end skipped. Empty (default): no cap. See docs/agents.md.',
    default: '',
    cli: { arg: '<usd>' },
    parse: (t: string, label: string): number | undefined =>
      t.trim() ? positiveNumber(0)(t, label) : undefined
  },
  mode: {
    description:
      '`run` (default): the whole job on this runner. For fanning out across runners with a matrix: `plan` validates the task list and outputs `matrix`; `task` runs one task (`task-id`) and pushes its branch; `merge` merges every task branch, opens the pull request and reports. See examples/matrix.yml.',
    default: 'run',
    values: MODES,
    cli: false,
    parse: (t: string, label: string): Mode => {
      const mode = (t.trim().toLowerCase() || 'run') as Mode
      if (!MODES.includes(mode))
        throw new Error(
          `${label} must be one of ${MODES.join(', ')}, got "${t}". run does everything on one runner; plan, task and merge are the jobs of a matrix workflow (see examples/matrix.yml).`
        )
      return mode
    }
  },
  'task-id': {
    description: 'The task a `mode: task` job runs, e.g. `${{ matrix.task }}`.',
    default: '',
    cli: false,
    parse: optional
  },
  'results-dir': {
    description:
      "Secure mode (see examples/secure.yml). With `mode: task`, write the task's result here (a git bundle and report.json, to upload as the artifact `agent-fanout-<task id>`) instead of pushing, so the job needs only read permissions. With `mode: merge`, where the downloaded artifacts are (one folder per artifact); the merge job then runs no agent-made code.",
    default: '',
    cli: false,
    parse: optional
  },
  'github-token': {
    description: 'Token used for the GitHub API and for pushing branches. Agents never see it.',
    default: '${{ github.token }}',
    cli: false,
    parse: text
  },
  'pr-token': {
    description:
      'Token used only to open and update the pull request, instead of github-token (whose pull requests start no workflow runs, so no CI) and where "Allow GitHub Actions to create and approve pull requests" is off. A fine-grained personal access token or a GitHub App token with Pull requests write and Contents read. Agents never see it.',
    default: '',
    cli: false,
    parse: optional
  },
  'issue-number': {
    description:
      "Issue holding the task list. Defaults to the event's issue; required for workflow_dispatch.",
    default: '',
    cli: {
      default: '1',
      arg: '<n>',
      help: 'Number in the branch names (fanout/issue-<n>/...) and the report (default 1).'
    },
    parse: (t: string, label: string): number | undefined => {
      if (!t.trim()) return undefined
      const n = Number(t.trim().replace(/^#/, ''))
      if (!Number.isInteger(n) || n <= 0)
        throw new Error(`${label} must be an issue number like 42, got "${t}".`)
      return n
    }
  },
  'trigger-label': {
    description:
      'Label that starts a run: on `issues` events (`labeled` with this label, or `opened` carrying it) and for scheduled runs, which pick open issues carrying it.',
    default: 'agents',
    cli: false,
    parse: (t: string): string => t.trim() || 'agents'
  },
  'max-issues': {
    description: 'How many labelled issues one scheduled run processes (oldest first).',
    default: '1',
    cli: false,
    parse: wholeNumber(1, 1, 50)
  },
  'allowed-bots': {
    description:
      'Comma-separated bot logins (e.g. `renovate[bot]`) that may trigger runs. Other bots are refused. Allowed bots are not permission-checked: list only bots you trust.',
    default: '',
    cli: false,
    parse: (t: string): string[] => list(t).map((b) => b.toLowerCase())
  },
  'timeout-minutes': {
    description:
      "Deadline for the whole run: agents still running then are ended and the run reports what finished. Set it a few minutes below the job's own timeout-minutes. Empty: no deadline.",
    default: '',
    cli: { arg: '<n>' },
    /** In milliseconds; undefined: no deadline. */
    parse: (t: string, label: string): number | undefined =>
      t.trim() ? positiveNumber(0)(t, label) * 60_000 : undefined
  },
  'allow-workflow-changes': {
    description:
      'Let tasks change files under `.github/workflows/`. Pushing those needs a token with the `workflows` permission (GITHUB_TOKEN never has it); by default such a task fails before anything is pushed, and the other tasks still publish.',
    default: 'false',
    // Nothing is pushed by the CLI: no token lacks the permission.
    cli: false,
    parse: boolean(false)
  },
  'base-branch': {
    description:
      "Branch the task branches start from and the pull request targets. Defaults to the repository's default branch.",
    default: '',
    cli: {
      aliases: ['base'],
      arg: '<branch>',
      help: 'Branch the task branches start from (default: the branch checked out).'
    },
    parse: optional
  },
  'max-parallel': {
    description: 'How many agents run at once.',
    default: '4',
    cli: { arg: '<n>' },
    parse: wholeNumber(4, 1, 64)
  },
  'max-tasks': {
    description: 'More tasks than this is refused with a clear message, and nothing is started.',
    default: '20',
    cli: { arg: '<n>' },
    parse: wholeNumber(20, 1, 500)
  },
  'task-timeout-minutes': {
    description: 'Wall-clock limit for one agent; its whole process tree is ended after it.',
    default: '30',
    cli: { arg: '<n>' },
    /** In milliseconds. */
    parse: (t: string, label: string): number => positiveNumber(30)(t, label) * 60_000
  },
  'conflict-strategy': {
    description:
      "What to do with a task whose branch conflicts with the integration branch: an ordered, comma-separated list tried in turn. `rerun` runs the task's agent again on the integration branch as merged so far; `agent` leaves git's conflict markers in a worktree and runs resolve-command; `report` leaves the task out, pushes its branch and reports the conflict. Example: rerun,agent,report.",
    default: 'report',
    values: CONFLICT_STRATEGIES,
    cli: { arg: '<list>' },
    parse: (t: string, label: string): ConflictStrategy[] =>
      list(t || 'report').map((s) => {
        if (!(CONFLICT_STRATEGIES as readonly string[]).includes(s))
          throw new Error(
            `${label} has an unknown strategy "${s}"; supported: ${CONFLICT_STRATEGIES.join(', ')}.`
          )
        return s as ConflictStrategy
      })
  },
  'max-reruns': {
    description: 'How many times the `rerun` strategy may re-run one task.',
    default: '1',
    cli: { arg: '<n>' },
    parse: wholeNumber(1, 0, 5)
  },
  'resolve-command': {
    description:
      'Command for the `agent` conflict strategy, run in a worktree holding the conflicted merge, with TASK_MODE=resolve, CONFLICT_FILES and a prompt file showing both sides. Defaults to agent-command.',
    default: '',
    cli: { arg: '<command>' },
    parse: (t: string): string | undefined => t || undefined
  },
  'verify-command': {
    description:
      'Optional check (build, tests) run in a checkout of the integration branch. See `verify`.',
    default: '',
    cli: { arg: '<command>' },
    parse: (t: string): string | undefined => (t.trim() ? t : undefined)
  },
  verify: {
    description:
      "`each`: run verify-command after each task's merge and take out a task whose merge makes it fail (status broke-verify). `final`: run it once at the end and report the result.",
    default: 'final',
    values: ['each', 'final'],
    cli: { arg: 'each|final' },
    parse: (t: string, label: string): 'each' | 'final' => {
      const mode = (t || 'final').trim().toLowerCase()
      if (mode !== 'each' && mode !== 'final')
        throw new Error(`${label} must be each or final, got "${mode}".`)
      return mode
    }
  },
  'worktree-mode': {
    description:
      "How each task's worktree gets its files: `checkout` (a full checkout per task), `overlay` (an overlayfs mount of one shared, read-only checkout of the base: made in milliseconds, taking only the disk a task changes; needs root or passwordless sudo), or `auto`: overlay where the runner can mount without asking, checkout otherwise (the log says which and why). See docs/worktrees.md.",
    default: 'auto',
    values: WORKTREE_MODES,
    cli: { arg: WORKTREE_MODES.join('|') },
    parse: (t: string, label: string): WorktreeModeOption => {
      const mode = (t.trim().toLowerCase() || 'auto') as WorktreeModeOption
      if (!WORKTREE_MODES.includes(mode))
        throw new Error(`${label} must be one of ${WORKTREE_MODES.join(', ')}, got "${t}".`)
      return mode
    }
  },
  'setup-command': {
    description:
      "Optional command run once before any agent, through `bash -c` and with the agents' environment (no token), e.g. `npm ci`: in the shared base of overlay worktrees (every task sees its result), or in each worktree in checkout mode. If it fails, no agent starts and every task reports its output's last lines. What it creates never lands in a task's commit unless the task changed it.",
    default: '',
    cli: { arg: '<command>' },
    parse: (t: string): string | undefined => (t.trim() ? t : undefined)
  },
  'branch-prefix': {
    description:
      'Prefix of the branches this action writes: the integration branch is `<prefix>/integration` and each task branch is `<prefix>/<task-id>`. Defaults to `fanout/issue-<number>`.',
    default: '',
    cli: {
      arg: '<prefix>',
      help: 'Prefix of the branches: <prefix>/integration and <prefix>/<task-id> (default fanout/issue-<n>).'
    },
    parse: (t: string): string | undefined => t || undefined
  },
  'sparse-checkout': {
    description:
      "Monorepos: directories (cone mode, one per line, as actions/checkout takes them) that every task worktree and the verify worktree show; a task's nested `paths:` line narrows it further. Commits keep every file outside them. See docs/repositories.md.",
    default: '',
    cli: { arg: '<dirs>' },
    parse: (t: string, label: string): string[] | undefined => {
      const dirs = parseSparseDirs(t, label)
      return dirs.length > 0 ? dirs : undefined
    }
  },
  'commit-author': {
    description: 'Author and committer of the commits this action makes, as `Name <email>`.',
    default: BOT,
    cli: {
      default: '',
      arg: '"Name <email>"',
      help: "Author of the commits it makes (default: the repository's user.name and user.email)."
    },
    /** Undefined when empty: the front door's own default. */
    parse: (t: string, label: string): Identity | undefined =>
      t.trim() ? parseIdentity(t, label) : undefined
  },
  draft: {
    description: 'Open the pull request as a draft.',
    default: 'false',
    cli: false,
    parse: boolean(false)
  },
  'tick-boxes': {
    description:
      'Tick the box of each task whose work is on the integration branch in the issue body (only that checkbox changes; edits people made meanwhile are kept). Later runs skip ticked tasks.',
    default: 'true',
    cli: false,
    parse: boolean(true)
  },
  'upload-logs': {
    description:
      "Upload each task's full log as a workflow artifact and link it from its row of the status comment. Skipped where the runner has no artifact service (act, local runs).",
    default: 'true',
    cli: false,
    parse: boolean(true)
  },
  'fail-on': {
    description:
      'Comma-separated task outcomes that make the step fail: any of failed, conflicted, broke-verify, no-changes, or none.',
    default: 'failed,conflicted',
    values: [...FAIL_ON_VALUES, 'none'],
    cli: {
      arg: '<list>',
      help: 'Comma-separated task outcomes that make the exit status 1: any of failed, conflicted, broke-verify, no-changes, skipped, or none.'
    },
    parse: (t: string, label: string): Set<TaskStatus> =>
      new Set(
        list(t).flatMap((s) => {
          if (s === 'none') return []
          if (!(FAIL_ON_VALUES as readonly string[]).includes(s))
            throw new Error(
              `${label} has an unknown outcome "${s}"; use any of ${FAIL_ON_VALUES.join(', ')}, or none.`
            )
          return [s as TaskStatus]
        })
      )
  }
} as const satisfies Record<string, OptionDef<unknown>>

export type OptionName = keyof typeof OPTIONS
/** Each option's parsed value. */
export type Options = { [K in OptionName]: ReturnType<(typeof OPTIONS)[K]['parse']> }
/** The options a local run (the CLI) takes. */
export const CLI_OPTIONS = (Object.keys(OPTIONS) as OptionName[]).filter(
  (name) => OPTIONS[name].cli !== false
)

/**
 * Reads and parses `names`. `read` gives an option's text, undefined when it was not given
 * (then the default applies: the CLI's own where it has one, when `cli` is true); `label`
 * names the option in errors.
 */
export function readOptions<K extends OptionName>(
  names: readonly K[],
  read: (name: K) => string | undefined,
  label: (name: K) => string,
  front: 'action' | 'cli' = 'action'
): Pick<Options, K> {
  const out = {} as Record<K, unknown>
  for (const name of names) {
    const def: OptionDef<unknown> = OPTIONS[name]
    const cliDefault = front === 'cli' && def.cli ? def.cli.default : undefined
    out[name] = def.parse(read(name) ?? cliDefault ?? def.default, label(name))
  }
  return out as Pick<Options, K>
}

/** The CLI's flag for an option (without the dashes). */
export function cliFlag(name: OptionName): string {
  const cli: OptionDef<unknown>['cli'] = OPTIONS[name].cli
  return (cli && cli.flag) || name
}

/** Comma- or newline-separated list, trimmed, empties dropped. */
export function list(t: string): string[] {
  return t
    .split(/[\n,]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export function parseIdentity(t: string, label = 'Input commit-author'): Identity {
  const match = /^\s*([^<>]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(t)
  if (!match) throw new Error(`${label} must look like "Name <email@example.com>", got "${t}".`)
  return { name: match[1], email: match[2] }
}

function wholeNumber(fallback: number, min: number, max: number) {
  return (t: string, label: string): number => {
    if (!t.trim()) return fallback
    const value = Number(t)
    if (!Number.isInteger(value) || value < min || value > max)
      throw new Error(`${label} must be a whole number from ${min} to ${max}, got "${t}".`)
    return value
  }
}

function positiveNumber(fallback: number) {
  return (t: string, label: string): number => {
    if (!t.trim()) return fallback
    const value = Number(t)
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`${label} must be a positive number, got "${t}".`)
    return value
  }
}

function boolean(fallback: boolean) {
  return (t: string, label: string): boolean => {
    const value = t.trim().toLowerCase()
    if (!value) return fallback
    if (value === 'true') return true
    if (value === 'false') return false
    throw new Error(`${label} must be true or false, got "${value}".`)
  }
}
