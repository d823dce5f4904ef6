// Live rows of a matrix run. Task jobs run on separate runners and all edit the one status
// comment; none edits it from what it remembers. The shared state is on the remote: each task
// job's git note (core/results.ts), which the job writes twice, `running` when its agent starts
// and its result when it ends. Every redraw renders all rows from all notes, and a job that finds
// the notes changed while it wrote redraws again (updateRows), so concurrent jobs converge on a
// comment that shows every note pushed before the last write. A job that dies after its
// `running` note leaves a failure that says so, which is what the merge job then reports.

import type { TaskResult } from '../core/types.js'
import { listRemoteRefs, pushRefs } from '../core/git/remote.js'
import { reportRef, runningReport, writeReport, type TaskReport } from '../core/results.js'
import { errorMessage } from '../core/util/errors.js'
import { logUploader } from '../github/log-artifacts.js'
import type { Run } from './steps/context.js'

/** Pushes the `running` note of a task job's task (a courtesy: failing only costs the row). */
export async function announceRunning(
  r: Run,
  plan: { id: string; baseSha: string },
  entry: { id: string; title: string; hash: string },
  branch: string,
  runUrl?: string
): Promise<void> {
  const ref = reportRef(r.issueNumber, entry.id)
  try {
    const seen = await listRemoteRefs(r.git, 'origin', ref, r.auth)
    const report = runningReport({ ...entry, branch }, plan.id, entry.hash, Date.now(), runUrl)
    const note = await writeReport(r.git, ref, plan.baseSha, report)
    const [pushed] = await pushRefs(
      r.git,
      'origin',
      [{ ref, sha: note, expected: seen.get(ref) }],
      r.auth
    )
    if (!pushed.ok)
      r.logger.info(`The running mark of ${entry.id} was not pushed: ${pushed.message}`)
  } catch (error) {
    r.logger.info(`The running mark of ${entry.id} was not pushed: ${errorMessage(error)}`)
  }
}

/** A task job's log as an artifact, linked from its result (when the runner offers artifacts). */
export async function withUploadedLog(
  r: Run,
  result: TaskResult,
  workDir: string
): Promise<TaskResult> {
  if (!r.inputs.uploadLogs || !result.logFile) return result
  const uploader = logUploader({
    issueNumber: r.issueNumber,
    logger: r.logger,
    stagingDir: workDir
  })
  const url = await uploader?.upload(result.id, result.logFile)
  return url ? { ...result, logUrl: url } : result
}

/** What a row of a task job's note shows: times, log, and whether its agent runs now. */
export function noteRowFields(
  report: TaskReport
): Pick<TaskResult, 'startedAt' | 'finishedAt' | 'logUrl'> {
  return {
    ...(report.startedAt !== undefined ? { startedAt: report.startedAt } : {}),
    ...(report.finishedAt !== undefined ? { finishedAt: report.finishedAt } : {}),
    ...(report.logUrl ? { logUrl: report.logUrl } : {})
  }
}

/**
 * What a task job's agent reported (cost, tokens, summary) and its agent starts, as its note
 * carries them (checked when it was read: results.ts checkedExtras).
 */
export function noteAgentFields(report: TaskReport): Pick<TaskResult, 'agentReport' | 'tries'> {
  return {
    ...(report.agentReport ? { agentReport: report.agentReport } : {}),
    ...(report.tries?.length ? { tries: report.tries } : {})
  }
}

/** The tasks whose notes say their agents run now, with when they started. */
export function runningTasks(reports: Map<string, TaskReport>): Map<string, number> {
  return new Map(
    [...reports]
      .filter(([, report]) => report.running)
      .map(([id, report]) => [id, report.startedAt ?? 0] as const)
  )
}
