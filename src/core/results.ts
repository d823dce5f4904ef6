import { checkAgentReport, oneLine } from './agents/result-file.js'
import type { Git } from './git/git.js'
import type { TaskResult } from './types.js'

// A task run on another machine (a matrix task job) hands its result to the merge job through
// the remote, not through shared runner state: as a git note on the commit it produced (or on
// the base, when it produced nothing), in a notes ref of its own. One ref per task means
// concurrent task jobs never push to the same ref.

/** What a task job leaves for the merge job. */
export interface TaskReport {
  version: 1
  /** The plan this result belongs to; results of other plans are ignored. */
  plan: string
  task: string
  /** Hash of the task text the agent was given. */
  hash: string
  status: 'ready' | 'failed' | 'no-changes'
  /** The commit the agent's work ended at (status ready). */
  tip?: string
  changedFiles: string[]
  durationMs: number
  reason?: string
  exitCode?: number | null
  timedOut?: boolean
  logTail?: string
  /** Link to the job that ran it, for the report. */
  runUrl?: string
  /** When its agent started and ended (epoch ms), for the rows and the timeline. */
  startedAt?: number
  finishedAt?: number
  /** Its full log (a workflow artifact). */
  logUrl?: string
  /**
   * Written when its agent starts, before any result: the row shows it running. Its status is
   * `failed` with a reason, which is what the merge job reports if the job never writes more.
   */
  running?: true
  /** What its agent reported (cost, tokens, summary): checked on read, see checkedExtras. */
  agentReport?: TaskResult['agentReport']
  /** Its agent starts (retries after transient failures): checked on read. */
  tries?: TaskResult['tries']
}

/** Notes refs of an issue's task results: `refs/notes/agent-fanout/issue-<n>/<task id>`. */
export function reportRef(issueNumber: number, taskId?: string): string {
  return `refs/notes/agent-fanout/issue-${issueNumber}/${taskId ?? '*'}`
}

const MAX_TAIL = 4000
const MAX_FILES = 300

/** The report of one task result, trimmed to a size that travels well. */
export function toReport(
  result: TaskResult,
  plan: string,
  hash: string,
  runUrl?: string
): TaskReport {
  const status =
    result.status === 'ready' ? 'ready' : result.status === 'no-changes' ? 'no-changes' : 'failed'
  return {
    version: 1,
    plan,
    task: result.id,
    hash,
    status,
    // A failed task's tip is work kept on its branch, for a person, not to merge.
    ...(status !== 'no-changes' && result.commit ? { tip: result.commit } : {}),
    changedFiles: result.changedFiles.slice(0, MAX_FILES),
    durationMs: result.durationMs,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(result.timedOut ? { timedOut: true } : {}),
    ...(result.logTail ? { logTail: result.logTail.slice(-MAX_TAIL) } : {}),
    ...(runUrl ? { runUrl } : {}),
    ...(result.startedAt !== undefined ? { startedAt: result.startedAt } : {}),
    ...(result.finishedAt !== undefined ? { finishedAt: result.finishedAt } : {}),
    ...(result.logUrl ? { logUrl: result.logUrl } : {}),
    ...(result.agentReport ? { agentReport: result.agentReport } : {}),
    ...(result.tries?.length ? { tries: result.tries.slice(0, MAX_TRIES) } : {})
  }
}

const MAX_TRIES = 20
const MAX_OUTCOME = 300

/**
 * A report read from a note or an artifact, with what its agent reported checked as the
 * result file is (result-file.ts): made next to an agent, it is untrusted (in secure mode the
 * agent's job could write anything). Numbers must be finite and not negative, text is one cut
 * line; what is wrong is dropped.
 */
export function checkedExtras(report: TaskReport): TaskReport {
  const { agentReport, tries, ...rest } = report
  const checked = checkAgentReport(agentReport)
  const attempts = Array.isArray(tries)
    ? tries
        .filter(
          (t): t is { attempt: number; outcome: string } =>
            !!t &&
            typeof t === 'object' &&
            Number.isInteger(t.attempt) &&
            t.attempt >= 1 &&
            typeof t.outcome === 'string'
        )
        .slice(0, MAX_TRIES)
        .map((t) => ({ attempt: t.attempt, outcome: oneLine(t.outcome, MAX_OUTCOME) }))
    : []
  return {
    ...rest,
    ...(checked ? { agentReport: checked } : {}),
    ...(attempts.length ? { tries: attempts } : {})
  }
}

/**
 * The note a task job leaves when its agent starts: the row shows it running, and should the
 * job end without a result, the merge job finds a failure that says so.
 */
export function runningReport(
  task: { id: string; title: string; branch: string },
  plan: string,
  hash: string,
  startedAt: number,
  runUrl?: string
): TaskReport {
  return {
    ...toReport(
      {
        ...task,
        status: 'failed',
        changedFiles: [],
        durationMs: 0,
        reason: `its task job started its agent at ${new Date(startedAt).toISOString()} but left no result (it failed, was cancelled or timed out); see the workflow run, then run again`,
        startedAt
      },
      plan,
      hash,
      runUrl
    ),
    running: true
  }
}

/** Records `report` as the only note of `ref`, on `object` (a fresh notes commit, no history). */
export async function writeReport(
  git: Git,
  ref: string,
  object: string,
  report: TaskReport
): Promise<string> {
  const blob = await git.out(['hash-object', '-w', '--stdin'], {
    stdin: `${JSON.stringify(report, null, 2)}\n`
  })
  const tree = await git.out(['mktree'], { stdin: `100644 blob ${blob}\t${object}\n` })
  const commit = await git.out([
    'commit-tree',
    tree,
    '-m',
    `agent-fanout: ${report.task} ${report.status}`
  ])
  await git.run(['update-ref', ref, commit])
  return commit
}

/**
 * A report's JSON as an object whose fields are still to be checked; undefined for text that is
 * not JSON or not an object (`null`, a list, a string: a forged or broken report).
 */
export function parseReportObject(text: string): Partial<TaskReport> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Partial<TaskReport>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads the report held by the notes commit `commit`. Returns undefined for anything that is
 * not a well-formed report of `taskId` (the merge job trusts nothing it did not expect).
 */
export async function readReport(
  git: Git,
  commit: string,
  taskId: string
): Promise<TaskReport | undefined> {
  const listing = await git.run(['ls-tree', '-z', commit], { okExitCodes: [128] })
  if (listing.exitCode !== 0) return undefined
  for (const entry of listing.stdout.split('\0').filter(Boolean)) {
    const [meta, object] = entry.split('\t')
    const [, type, blob] = meta.split(' ')
    if (type !== 'blob') continue
    const report = parseReportObject(await git.out(['cat-file', 'blob', blob])) as TaskReport
    if (!report) continue
    const tipMatches = report.status !== 'ready' || report.tip === object
    if (
      report.version === 1 &&
      report.task === taskId &&
      ['ready', 'failed', 'no-changes'].includes(report.status) &&
      tipMatches &&
      Array.isArray(report.changedFiles)
    )
      return checkedExtras(report)
  }
  return undefined
}
