// Before the engine: the base fetched, what each task does this run decided, reused work fetched.

import { context } from '@actions/github'
import { integrationBranchName, taskBranchName } from '../../core/branches.js'
import type { TaskPlan } from '../../core/engine.js'
import { baseBranchName } from '../../core/git/base-branch.js'
import {
  ensureMergeBases,
  fetchBranch,
  fetchBranches,
  listRemoteBranches
} from '../../core/git/remote.js'
import { branchClashMessage, codeSpan, remoteBranchClashes } from '../../core/preflight.js'
import { followDependencies } from '../../core/run/dependency-plan.js'
import type { Task, TaskResult } from '../../core/types.js'
import { UserError } from '../../core/util/errors.js'
import { keepOnRemote } from '../keep.js'
import { CannotKeepError, type KeepDecision } from '../../core/people.js'
import { planTasks, type Command, type PlanRecord, type RunState } from '../state.js'
import type { Run } from './context.js'
import { explainOnIssue } from './issue.js'
import { carryTicked } from '../ticked.js'

/** A plan made before this step (by the merge job, from a plan job and its task jobs). */
export interface PreparedRun {
  plan: Map<string, TaskPlan>
  dropped: string[]
  /** Tasks whose agents ran for this request (their stale branches may be deleted). */
  ranNow: Set<string>
  baseBranch: string
  baseSha: string
  remoteTips: Map<string, string>
  /** Kept in the state the run records (the plan a re-run of failed task jobs still needs). */
  planRecord?: PlanRecord
  /** Where the integration branch starts and the commits by people it keeps (people.ts). */
  keep: Pick<KeepDecision, 'start' | 'people' | 'notes'>
  /** The tasks as the run takes them, when they differ from the issue's (ticked.ts). */
  tasks?: Task[]
  /** What rows show beyond the engine's results (a matrix task job's times and log link). */
  rows?: Map<string, Pick<TaskResult, 'startedAt' | 'finishedAt' | 'logUrl'>>
}

/** run mode: fetch the base, decide per task whether its agent runs, fetch reused branches. */
export async function prepareRun(
  r: Run,
  command: Command,
  issueTasks: Task[],
  previous: RunState | undefined
): Promise<PreparedRun> {
  const { baseBranch, baseSha, remoteTips } = await fetchBase(r)
  const tasks = carryTicked(issueTasks, previous, remoteTips)
  const planned = planTasks(tasks, previous, remoteTips, command)
  const base = { branch: baseBranch, sha: baseSha }
  const keep = await keepOrStop(r, {
    tasks,
    plan: planned.plan,
    previous,
    remoteTips,
    base,
    command
  })
  const { plan } = keep
  followPlannedDependencies(r, tasks, plan)
  await refuseBranchClashes(r, tasks, plan)
  await fetchReused(r, tasks, plan, base, remoteTips)
  const ranNow = new Set(tasks.filter((t) => plan.get(t.id)?.mode === 'run').map((t) => t.id))
  return { plan, dropped: planned.dropped, ranNow, baseBranch, baseSha, remoteTips, keep, tasks }
}

/**
 * keepOnRemote (commits by people are kept); when that is impossible, says so on the issue
 * before any agent starts and fails the run.
 */
export async function keepOrStop(
  r: Run,
  o: Pick<
    Parameters<typeof keepOnRemote>[0],
    'tasks' | 'plan' | 'previous' | 'remoteTips' | 'base' | 'command'
  >
): Promise<KeepDecision> {
  try {
    return await keepOnRemote({
      ...o,
      git: r.git,
      logger: r.logger,
      auth: r.auth,
      issueNumber: r.issueNumber,
      prefix: r.prefix
    })
  } catch (error) {
    if (error instanceof CannotKeepError)
      await explainOnIssue(r.api, r.issueNumber, error.message, r.logger, '')
    throw error
  }
}

/** Fetches the base branch's tip and lists the branches earlier runs left under the prefix. */
export async function fetchBase(
  r: Run
): Promise<{ baseBranch: string; baseSha: string; remoteTips: Map<string, string> }> {
  const baseBranch = await baseBranchName(r.git, await resolveBaseBranch(r), 'base-branch')
  return r.logger.group(`Fetch ${baseBranch}`, async () => {
    const sha = await fetchBranch(r.git, 'origin', baseBranch, r.auth)
    const tips = await listRemoteBranches(r.git, 'origin', r.prefix, r.auth)
    r.logger.info(
      `Base ${baseBranch} is at ${sha}; ${tips.size} branch(es) of earlier runs under ${r.prefix}/`
    )
    return { baseBranch, baseSha: sha, remoteTips: tips }
  })
}

/**
 * Refuses, before any agent starts, a run whose branches origin cannot hold next to the ones it
 * has (a branch `<prefix>` blocks `<prefix>/T1`): said once, on the issue and in the log.
 */
export async function refuseBranchClashes(
  r: Run,
  tasks: Task[],
  plan: Map<string, TaskPlan>
): Promise<void> {
  const needed = [
    integrationBranchName(r.prefix),
    ...tasks
      .filter((t) => !t.checked && plan.get(t.id)?.mode !== 'drop')
      .map((t) => taskBranchName(r.prefix, t.id))
  ]
  const clashes = await remoteBranchClashes(r.git, 'origin', needed, r.auth)
  if (clashes.length === 0) return
  const message = branchClashMessage(clashes, {
    place: 'on origin',
    deleteHint: (branch) => `git push origin --delete ${branch}`,
    // Shown on the issue: names stay names there (no markup, no @mention).
    name: codeSpan
  })
  await explainOnIssue(r.api, r.issueNumber, message, r.logger, '')
  throw new UserError(message)
}

export async function resolveBaseBranch(r: Run): Promise<string> {
  return (
    r.inputs.baseBranch ??
    (context.payload.repository?.default_branch as string | undefined) ??
    (await r.api.getDefaultBranch())
  )
}

/** Fetches the branches of tasks reused from an earlier run, with history down to the base. */
export async function fetchReused(
  r: Run,
  tasks: Task[],
  plan: Map<string, TaskPlan>,
  base: { branch: string; sha: string },
  remoteTips: Map<string, string>
): Promise<void> {
  const reused = tasks.filter((t) => plan.get(t.id)?.mode === 'reuse')
  if (reused.length === 0) return
  await r.logger.group(`Reuse ${reused.length} task(s) finished by an earlier run`, async () => {
    const branches = reused.map((t) => taskBranchName(r.prefix, t.id))
    await fetchBranches(r.git, 'origin', branches, r.auth)
    await ensureMergeBases(
      r.git,
      'origin',
      base,
      reused.map((_, i) => ({ branch: branches[i], sha: remoteTips.get(branches[i])! })),
      r.auth
    )
    r.logger.info(
      `Not starting the agents of ${reused.map((t) => t.id).join(', ')}: their branches hold a merged result for the same task text`
    )
  })
}

/** Reruns follow dependencies (core/run/dependency-plan.ts); says in the log what changed. */
export function followPlannedDependencies(
  r: Run,
  tasks: Task[],
  plan: Map<string, TaskPlan>
): void {
  for (const f of followDependencies(tasks, plan))
    r.logger.info(`${f.id} ${f.mode === 'run' ? 'runs again' : 'is dropped too'}: ${f.because}`)
}
