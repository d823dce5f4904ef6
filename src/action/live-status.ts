// The action's live status comment: posted as soon as the run holds the issue (before the base
// is fetched and worktrees are made), moved along by the engine's events, each finished task's
// log uploaded and linked from its row, and at the end replaced by the final report, in the
// same comment. Everything here is a courtesy but the final report: a failed live edit or
// upload is logged, never fatal (live-comment.ts, log-artifacts.ts).

import os from 'node:os'
import path from 'node:path'
import type { RunEvent, RunWatcher } from '../core/events.js'
import {
  annotateRow,
  applyLiveEvent,
  initialLiveState,
  renderLiveStatus,
  type LiveState
} from '../core/report/live.js'
import type { FanoutResult, Logger, Task, TaskResult } from '../core/types.js'
import { taskBranchName } from '../core/branches.js'
import * as md from '../core/report/mdast.js'
import { errorMessage } from '../core/util/errors.js'
import type { CommentData, GitHubApi } from '../github/api.js'
import { PacedWriter, statusCommentWriter } from '../github/live-comment.js'
import { logUploader, type LogUploader } from '../github/log-artifacts.js'
import { statusMarker } from '../github/publish.js'
import { encodeState, type RunState } from './state.js'
import { runLink, type Run } from './steps/context.js'

/** The web page of a branch on the repository the action runs for. */
export function branchUrl(
  branch: string,
  env: NodeJS.ProcessEnv = process.env
): string | undefined {
  const server = env.GITHUB_SERVER_URL
  const repo = env.GITHUB_REPOSITORY
  if (!server || !repo) return undefined
  return `${server}/${repo}/tree/${branch.split('/').map(encodeURIComponent).join('/')}`
}

export interface LiveStatusOptions {
  api: GitHubApi
  logger: Logger
  issueNumber: number
  tasks: Task[]
  prefix: string
  /** Our hidden markers: the status marker and the state earlier runs recorded (kept as is). */
  marker: string
  /** Status comments found by their marker (the first is edited). */
  known: CommentData[]
  runUrl?: string
  /** Upload each task's log as an artifact (when the runner offers the artifact service). */
  uploadLogs: boolean
  /** Where logs are staged for upload. */
  workDir: string
  intervalMs?: number
  /**
   * Once every agent has ended, live edits wait this long (default 1.5 s): integrating the
   * branches usually takes less, and the final report then replaces the body without a live
   * edit before it, which would cost it a second of GitHub's pacing. A longer integration or
   * verify shows its progress when the wait is over.
   */
  reportGraceMs?: number
}

/** See LiveStatusOptions.reportGraceMs. */
export const REPORT_GRACE_MS = 1500

export class LiveStatus {
  private state: LiveState
  private readonly writer: PacedWriter
  private readonly comment: ReturnType<typeof statusCommentWriter>
  private readonly uploader: LogUploader | undefined
  private uploads: Promise<void> = Promise.resolve()
  private readonly logUrls = new Map<string, string>()

  private constructor(private readonly o: LiveStatusOptions) {
    this.state = initialLiveState(
      o.tasks.map((t) => ({
        id: t.id,
        title: t.title,
        branch: taskBranchName(o.prefix, t.id),
        checked: t.checked
      })),
      Date.now()
    )
    this.comment = statusCommentWriter(o.api, o.issueNumber, o.logger, o.known)
    this.writer = new PacedWriter((body) => this.comment.write(body), {
      logger: o.logger,
      intervalMs: o.intervalMs
    })
    this.uploader = o.uploadLogs
      ? logUploader({
          issueNumber: o.issueNumber,
          logger: o.logger,
          stagingDir: path.join(o.workDir, 'log-artifacts')
        })
      : undefined
  }

  /** Starts the live status: its first post goes out at once. */
  static start(o: LiveStatusOptions): LiveStatus {
    const live = new LiveStatus(o)
    live.post(true)
    return live
  }

  /** The engine's watcher. */
  readonly watch: RunWatcher = (event: RunEvent) => {
    this.state = applyLiveEvent(this.state, event)
    if (event.kind === 'finished' && event.result.logFile) this.upload(event.result)
    if (event.kind === 'integrating' || (event.kind === 'finished' && this.agentsDone()))
      this.writer.holdUntil(Date.now() + (this.o.reportGraceMs ?? REPORT_GRACE_MS))
    // Milestones go out as soon as GitHub's pacing allows; the rest coalesce.
    this.post(event.kind === 'integrating' || event.kind === 'done')
  }

  /** Resolves once the edits posted so far are written. */
  settled(): Promise<void> {
    return this.writer.settled()
  }

  /** Marks rows whose branches are on the remote now (matrix task jobs push as they finish). */
  pushed(taskIds: string[]): void {
    for (const id of taskIds) this.state = annotateRow(this.state, id, { pushed: true })
    this.post()
  }

  /**
   * Hands over to the final report: the results get the links of their uploaded logs (once
   * every upload ended), the live edits end, and the status comment to edit is returned.
   */
  async handOver(result: FanoutResult): Promise<CommentData[]> {
    result.tasks = await this.withLogLinks(result.tasks)
    return this.close()
  }

  /** Runs the run's stages up to the engine's result; when they fail, the comment says so. */
  async around<T>(fn: (watch: RunWatcher) => Promise<T>): Promise<T> {
    // The first post is on the issue before the run fetches, sets up worktrees or starts agents
    // (one round trip; a failed post is logged and the run goes on).
    await this.writer.settled()
    try {
      return await fn(this.watch)
    } catch (error) {
      await this.stopped(errorMessage(error))
      throw error
    }
  }

  /** The results with the links of their uploaded logs, once every upload has ended. */
  async withLogLinks(tasks: TaskResult[]): Promise<TaskResult[]> {
    await this.uploads
    return tasks.map((t) => {
      const url = this.logUrls.get(t.id)
      return url && !t.logUrl ? { ...t, logUrl: url } : t
    })
  }

  /**
   * Ends the live edits before the final report: returns the status comment to edit with it
   * (the one the live status wrote, or what was known before when it wrote none).
   */
  async close(): Promise<CommentData[]> {
    await this.writer.stop()
    const c = this.comment.comment
    return c ? [{ id: c.id, url: c.url, body: '', author: '', authorType: 'Bot' }] : this.o.known
  }

  /**
   * The run stopped before its report: says so in the comment instead of "running", unless
   * something else wrote there since (a refusal explained on the issue stays).
   */
  async stopped(why: string): Promise<void> {
    await this.writer.stop()
    const mine = this.comment.comment
    if (mine) {
      const now = await this.o.api.listComments(this.o.issueNumber).catch(() => [])
      if (now.find((c) => c.id === mine.id)?.body !== mine.body) return
    }
    const body = md.serialize([
      md.html(this.o.marker),
      md.heading(3, md.text('agent-fanout: stopped before the agents finished')),
      md.paragraph(md.untrusted(why, 1000)),
      ...(this.o.runUrl
        ? [
            md.paragraph(
              md.text('See the '),
              md.link(this.o.runUrl, md.text('workflow run')),
              md.text('.')
            )
          ]
        : [])
    ])
    await this.writer
      .final(body)
      .catch((e: unknown) =>
        this.o.logger.warning(`Could not update the status comment: ${errorMessage(e)}`)
      )
  }

  /** No task waits for or runs its agent any more. */
  private agentsDone(): boolean {
    return this.state.rows.every((r) => r.state !== 'queued' && r.state !== 'running')
  }

  private post(urgent = false): void {
    this.writer.post(
      renderLiveStatus(this.state, {
        marker: this.o.marker,
        issueNumber: this.o.issueNumber,
        runUrl: this.o.runUrl,
        branchUrl: (b) => branchUrl(b),
        now: Date.now()
      }),
      urgent
    )
  }

  private upload(result: TaskResult): void {
    const uploader = this.uploader
    if (!uploader || !result.logFile) return
    const { id, logFile } = result
    // Started at once: the log is copied before the run's clean-up can remove it.
    const upload = uploader.upload(id, logFile).then((url) => {
      if (!url) return
      this.logUrls.set(id, url)
      this.state = annotateRow(this.state, id, { logUrl: url })
      this.post()
    })
    this.uploads = Promise.all([this.uploads, upload]).then(() => undefined)
  }
}

/**
 * The live status of a single-job run on `r`'s issue: the recorded state of earlier runs stays
 * in the comment (a run that dies half-way loses nothing), logs are staged next to the run's
 * work dir.
 */
export function startLiveStatus(
  r: Run,
  tasks: Task[],
  previous: RunState | undefined,
  statusComments: CommentData[]
): LiveStatus {
  return LiveStatus.start({
    api: r.api,
    logger: r.logger,
    issueNumber: r.issueNumber,
    tasks,
    prefix: r.prefix,
    marker: `${statusMarker(r.issueNumber)}${previous ? `\n${encodeState(previous)}` : ''}`,
    known: statusComments,
    runUrl: runLink(),
    uploadLogs: r.inputs.uploadLogs,
    workDir: path.join(
      process.env.RUNNER_TEMP || os.tmpdir(),
      'agent-fanout',
      `issue-${r.issueNumber}-logs`
    )
  })
}
