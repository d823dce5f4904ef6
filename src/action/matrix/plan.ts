// mode plan: validate, decide what runs, record the plan in the status comment, output the matrix.

import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { integrationBranchName } from '../../core/branches.js'
import type { Task } from '../../core/types.js'
import type { IssueData } from '../../github/api.js'
import { findStatusComments, upsertStatusComment } from '../../github/publish.js'
import type { ParsedCommand } from '../commands.js'
import { waitingTasks } from '../../core/run/rounds.js'
import { followPlannedDependencies } from '../steps/prepare.js'
import {
  fetchBase,
  keepOrStop,
  refuseBranchClashes,
  setProgressLabel,
  taskOutput,
  type Run
} from '../steps.js'
import {
  decodeState,
  encodeState,
  planTasks,
  taskRecord,
  taskHash,
  type Command,
  type PlanRecord,
  type RunState
} from '../state.js'
import { PROGRESS_LABELS } from '../triggers.js'
import { carryTicked } from '../ticked.js'
import { planRows, matrixStatus } from './shared.js'

/** mode plan: validate, decide what runs, mark every task queued, output the matrix. */
export async function planJob(
  r: Run,
  command: ParsedCommand & { kind: 'run' | 'retry' | 'drop' | 'status' },
  issue: IssueData,
  issueTasks: Task[]
): Promise<void> {
  const { api, logger } = r
  const { baseBranch, baseSha, remoteTips } = await fetchBase(r)
  const statusComments = await findStatusComments(api, issue.number)
  const previous = decodeState(statusComments[0]?.body)
  // Ticked tasks the action merged stay in the pull request (ticked.ts).
  const tasks = carryTicked(issueTasks, previous, remoteTips)
  const request = command as Command
  const planned = planTasks(tasks, previous, remoteTips, request)
  const { dropped } = planned
  // Task jobs must not start over commits by people either: decided here, before any of them.
  const { plan } = await keepOrStop(r, {
    tasks,
    plan: planned.plan,
    previous,
    remoteTips,
    base: { branch: baseBranch, sha: baseSha },
    command: request
  })
  followPlannedDependencies(r, tasks, plan)
  await refuseBranchClashes(r, tasks, plan)
  // A task that builds on a task of this round runs in a later round (core/run/rounds.ts).
  const waiting = waitingTasks(tasks, (id) => plan.get(id)?.mode === 'run')
  const record: PlanRecord = {
    id: randomBytes(8).toString('hex'),
    runId: process.env.GITHUB_RUN_ID ?? '',
    baseBranch,
    baseSha,
    command: request,
    tasks: tasks.map((t) => ({
      id: t.id,
      hash: taskHash(t),
      title: t.title.slice(0, 200),
      mode: t.checked
        ? 'skipped'
        : waiting.has(t.id)
          ? 'wait'
          : (plan.get(t.id)?.mode ?? 'skipped'),
      ...(waiting.has(t.id) ? { waitsFor: waiting.get(t.id) } : {}),
      ...(t.dependsOn?.length ? { dependsOn: t.dependsOn } : {})
    }))
  }
  // Tasks a person merged by hand are recorded as such now, so every row shows them merged.
  const byHand = tasks.flatMap((t) => {
    const p = plan.get(t.id)
    return p?.mode === 'keep' && p.result.status === 'merged-by-hand'
      ? [[t.id, taskRecord(t, p.result)] as const]
      : []
  })
  const state: RunState = {
    version: 1,
    baseSha: previous?.baseSha ?? baseSha,
    tasks: { ...previous?.tasks, ...Object.fromEntries(byHand) },
    dropped,
    ...(previous?.integration ? { integration: previous.integration } : {}),
    plan: record
  }
  const jobs = record.tasks.filter((t) => t.mode === 'run')
  const rows = planRows(record, state, new Map(), r.prefix)
  const body = matrixStatus(
    issue.number,
    encodeState(state),
    rows,
    `planned, ${jobs.length} task job(s) queued`
  )
  const comment = await upsertStatusComment(api, issue.number, body, logger, statusComments)
  await setProgressLabel(api, issue.number, PROGRESS_LABELS.running)
  logger.info(
    `Planned #${issue.number} on ${baseBranch} at ${baseSha.slice(0, 12)}: task jobs for ${jobs.map((t) => t.id).join(', ') || 'none'}`
  )
  core.setOutput('matrix', JSON.stringify({ include: jobs.map((t) => ({ task: t.id })) }))
  core.setOutput('task-jobs', String(jobs.length))
  core.setOutput('issue-number', String(issue.number))
  core.setOutput('integration-branch', integrationBranchName(r.prefix))
  core.setOutput('status-comment-id', String(comment.id))
  core.setOutput('tasks', JSON.stringify(rows.map(taskOutput)))
  await core.summary.addRaw(body).write()
}
