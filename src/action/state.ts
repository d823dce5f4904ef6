import { createHash } from 'node:crypto'
import type { TaskPlan } from '../core/engine.js'
import type { IntegrationRecord } from '../core/people.js'
import type { FanoutResult, Task, TaskResult, TaskStatus } from '../core/types.js'
import { isMerged } from '../core/types.js'

// What a later run needs to know about this one, kept where runners cannot lose it: in the
// status comment, as a hidden block. Runners are fresh every time; the comment is not.
const STATE_PATTERN = /<!-- agent-fanout:state ([A-Za-z0-9+/=]+) -->/

export interface TaskRecord {
  /** Hash of the task text the result was made from. */
  hash: string
  status: TaskStatus
  title: string
  branch: string
  commit?: string
  changedFiles: string[]
  durationMs: number
  reason?: string
}

export interface RunState {
  version: 1
  baseSha: string
  tasks: Record<string, TaskRecord>
  dropped: string[]
  /**
   * The commit the integration branch was left at and the commits by people it held: what
   * tells a later run which commits on it the action did not make (core/people.ts).
   */
  integration?: IntegrationRecord
  /** The matrix plan (mode: plan) that task and merge jobs of one workflow run work from. */
  plan?: PlanRecord
}

/** What a plan job decided, for the task and merge jobs that follow it on other runners. */
export interface PlanRecord {
  /** Random per plan: task results carry it, so results of an older plan are never merged. */
  id: string
  /** GITHUB_RUN_ID of the plan job: only jobs of the same workflow run may use the plan. */
  runId: string
  baseBranch: string
  /** Every task job starts here, so all of them (and `run` mode) agree on the base. */
  baseSha: string
  command: Command
  tasks: {
    id: string
    hash: string
    title: string
    /** `wait`: it builds on a task of this round, so it runs in a later one (core/run/rounds.ts). */
    mode: TaskPlan['mode'] | 'skipped' | 'wait'
    /** For `wait`: the tasks it waits for. */
    waitsFor?: string[]
    /** The tasks it builds on (its "After" cell while the task jobs run). */
    dependsOn?: string[]
  }[]
}

export function taskHash(task: Pick<Task, 'title' | 'body'>): string {
  return createHash('sha256').update(`${task.title}\n${task.body}`).digest('hex').slice(0, 16)
}

export function encodeState(state: RunState): string {
  return `<!-- agent-fanout:state ${Buffer.from(JSON.stringify(state)).toString('base64')} -->`
}

/** The hidden state block of a status comment, verbatim, so a rewrite of the comment keeps it. */
export function stateBlock(body: string | undefined): string | undefined {
  return body ? STATE_PATTERN.exec(body)?.[0] : undefined
}

export function decodeState(body: string | undefined): RunState | undefined {
  const match = body ? STATE_PATTERN.exec(body) : null
  if (!match) return undefined
  try {
    const state = JSON.parse(Buffer.from(match[1], 'base64').toString('utf8')) as RunState
    return state.version === 1 && typeof state.tasks === 'object'
      ? { ...state, dropped: state.dropped ?? [] }
      : undefined
  } catch {
    return undefined
  }
}

export function stateFromResult(result: FanoutResult, tasks: Task[], dropped: string[]): RunState {
  const byId = new Map(tasks.map((t) => [t.id, t]))
  const records: Record<string, TaskRecord> = {}
  for (const r of result.tasks) {
    const task = byId.get(r.id)
    if (task) records[r.id] = taskRecord(task, r)
  }
  return { version: 1, baseSha: result.baseSha, tasks: records, dropped }
}

/** What the state keeps of one task's result. */
export function taskRecord(task: Task, r: TaskResult): TaskRecord {
  return {
    hash: taskHash(task),
    status: r.status,
    title: r.title,
    branch: r.branch,
    ...(r.commit ? { commit: r.commit } : {}),
    changedFiles: r.changedFiles.slice(0, 300),
    durationMs: r.durationMs,
    ...(r.reason ? { reason: r.reason } : {})
  }
}

export type Command =
  { kind: 'run' } | { kind: 'retry'; ids: string[] } | { kind: 'drop'; ids: string[] }

/**
 * Decides, per task, whether its agent runs again. A task keeps its earlier result when that
 * result merged, was made from the same task text, and its branch on the remote is still the
 * commit recorded (so a push by someone else, or a changed task, means a fresh run).
 */
export function planTasks(
  tasks: Task[],
  previous: RunState | undefined,
  remoteTips: Map<string, string>,
  command: Command
): { plan: Map<string, TaskPlan>; dropped: string[] } {
  const ids =
    'ids' in command ? new Set(command.ids.map((id) => id.toLowerCase())) : new Set<string>()
  const listed = (t: Task): boolean => ids.has(t.id.toLowerCase())
  let dropped = (previous?.dropped ?? []).filter((id) => tasks.some((t) => t.id === id))
  if (command.kind === 'drop')
    dropped = [...new Set([...dropped, ...tasks.filter(listed).map((t) => t.id)])]
  if (command.kind === 'retry')
    dropped = dropped.filter((id) => !tasks.some((t) => t.id === id && listed(t)))

  const plan = new Map<string, TaskPlan>()
  for (const task of tasks) {
    if (task.checked) continue
    if (dropped.includes(task.id)) {
      plan.set(task.id, { mode: 'drop' })
      continue
    }
    if (command.kind === 'retry' && listed(task)) {
      plan.set(task.id, { mode: 'run' })
      continue
    }
    const record = previous?.tasks[task.id]
    const reusable =
      record !== undefined &&
      isMerged(record.status) &&
      record.hash === taskHash(task) &&
      record.commit !== undefined &&
      remoteTips.get(record.branch) === record.commit
    if (reusable) {
      plan.set(task.id, {
        mode: 'reuse',
        tip: record.commit!,
        changedFiles: record.changedFiles,
        durationMs: record.durationMs
      })
    } else if (command.kind === 'run') {
      plan.set(task.id, { mode: 'run' })
    } else {
      // retry/drop only touch the tasks they name; the rest stay as they were.
      plan.set(task.id, { mode: 'keep', result: keptResult(task, record) })
    }
  }
  return { plan, dropped }
}

/**
 * A task's result as recorded by an earlier run, or "not run yet" when there is none for its
 * current text. `branch` names the task branch when nothing was recorded.
 */
export function keptResult(task: Task, record: TaskRecord | undefined, branch = ''): TaskResult {
  if (!record || record.hash !== taskHash(task)) {
    return {
      id: task.id,
      title: task.title,
      status: 'skipped',
      branch: record?.branch ?? branch,
      changedFiles: [],
      durationMs: 0,
      reason: 'not run yet: comment /fanout run'
    }
  }
  return recordedResult(task.id, task.title, record)
}

/** A recorded result as a row of the report, under the task's current title. */
export function recordedResult(id: string, title: string, record: TaskRecord): TaskResult {
  return {
    id,
    title,
    status: record.status,
    branch: record.branch,
    changedFiles: record.changedFiles,
    durationMs: record.durationMs,
    ...(record.commit ? { commit: record.commit } : {}),
    reason: record.reason
  }
}
