// `/fanout status`: the status comment redrawn from the recorded state.

import * as core from '@actions/core'
import { context } from '@actions/github'
import { integrationBranchName, taskBranchName } from '../../core/branches.js'
import { renderReport } from '../../core/report/markdown.js'
import type { FanoutResult, Task } from '../../core/types.js'
import type { CommentData, IssueData } from '../../github/api.js'
import { statusMarker, upsertStatusComment } from '../../github/publish.js'
import { encodeState, keptResult, type RunState } from '../state.js'
import { type Run, runLink } from './context.js'
import { carryTicked } from '../ticked.js'
import { setOutputs } from './publish.js'
import { doneReason } from '../../core/tasks/sub-issues.js'

/** `/fanout status`: the status comment redrawn from the recorded state, nothing run. */
export async function refreshStatus(
  r: Run,
  issue: IssueData,
  tasks: Task[],
  previous: RunState | undefined,
  statusComments: CommentData[]
): Promise<void> {
  const integrationBranch = integrationBranchName(r.prefix)
  const result: FanoutResult = {
    baseBranch:
      r.inputs.baseBranch ??
      (context.payload.repository?.default_branch as string | undefined) ??
      '',
    baseSha: previous?.baseSha ?? '',
    integrationBranch,
    integrationSha: '',
    // Boxes the action ticked show the result it recorded (ticked.ts).
    tasks: carryTicked(tasks, previous).map((t) =>
      t.checked
        ? {
            id: t.id,
            title: t.title,
            status: 'skipped',
            branch: taskBranchName(r.prefix, t.id),
            changedFiles: [],
            durationMs: 0,
            reason: doneReason(t)
          }
        : keptResult(t, previous?.tasks[t.id], taskBranchName(r.prefix, t.id))
    )
  }
  const pr = await r.api.findOpenPull(
    integrationBranch,
    result.baseBranch || (await r.api.getDefaultBranch())
  )
  const pull = pr ? { number: pr.number, url: pr.url } : undefined
  const state = previous ? `\n${encodeState(previous)}` : ''
  const body = renderReport(result, {
    issueNumber: issue.number,
    pullRequest: pull,
    noPullRequestReason: pull ? undefined : 'none is open.',
    runUrl: runLink(),
    marker: `${statusMarker(issue.number)}${state}`
  })
  const comment = await upsertStatusComment(r.api, issue.number, body, r.logger, statusComments)
  setOutputs(result, pull, comment.id)
  await core.summary.addRaw(body).write()
  r.logger.info(`Refreshed the status comment: ${comment.url}`)
}
