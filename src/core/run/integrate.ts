import { integrate, type IntegrationOutcome } from '../integrate.js'
import type { TaskResult, VerifyResult } from '../types.js'
import { asNoSpace, isNoSpace } from '../util/no-space.js'
import type { AgentStage } from './agents.js'
import { planOf } from './plan.js'
import { rerunHook, resolveHook } from './strategies.js'
import type { Produced } from './task-result.js'
import { createVerifier, type Verifier } from './verify.js'

/** What the integrate stage did: where the integration branch is and how each task went in. */
export interface Integration {
  sha: string
  outcomes: IntegrationOutcome[]
  /** Set when the branch moved meanwhile and was left as it is (see integrate.ts). */
  movedTo?: string
  verify?: VerifyResult
  /** Why nothing could be merged (no room for the merges): every produced task fails with it. */
  lost?: string
}

/**
 * Merges the produced work into the integration branch, one merge commit per task in list
 * order, with the conflict strategies and the verify command, then verifies the whole branch
 * when asked (verify: final).
 */
export async function integrateWork(
  stage: AgentStage,
  produced: Map<string, Produced>
): Promise<Integration> {
  const { ws } = stage
  const { git, logger, options } = ws
  const byId = new Map(options.tasks.map((t) => [t.id, t]))
  const verifier = createVerifier(ws)
  const { each, verify } = await verifyEachOnBase(stage, verifier)
  let lost: string | undefined
  const integration = await logger.group('Merge task branches into the integration branch', () =>
    integrate(git, {
      baseSha: options.baseSha,
      startSha: options.integrationStart,
      expectedTip: options.integrationSeen,
      integrationBranch: ws.integrationBranch,
      issueNumber: options.issue.number,
      tasks: options.tasks
        .filter((t) => produced.has(t.id))
        .map((t) => {
          const plan = planOf(options, t)
          const keepBranch = plan.mode === 'reuse' && plan.byPeople !== undefined
          return {
            id: t.id,
            title: t.title,
            branch: ws.branchOf(t),
            keepBranch,
            ...produced.get(t.id)!
          }
        }),
      hooks: {
        strategies: options.conflictStrategies ?? ['report'],
        maxReruns: options.maxReruns ?? 1,
        logger,
        rerun: rerunHook(stage, byId),
        resolve: resolveHook(stage, byId),
        verify: each ? async (commit, it) => verifier.run(commit, `verify-${it.id}`) : undefined
      }
    }).catch(async (error: unknown) => {
      // No room to write the merges: the tasks fail, their work stays on their branches.
      if (!isNoSpace(error)) throw error
      lost = `${asNoSpace(error, `while merging into ${ws.integrationBranch} in ${git.repoDir}`).message}; its work is kept on its branch`
      logger.warning(lost)
      // Left where it started: the base, or the branch as people left it.
      return { sha: options.integrationStart ?? options.baseSha, outcomes: [] }
    })
  )
  const final =
    options.verify?.mode === 'final' && lost === undefined
      ? await logger.group('Verify the integration branch', async () => ({
          ...(await verifier.run(integration.sha, 'verify-final')),
          mode: 'final' as const
        }))
      : verify
  return { ...integration, ...(final ? { verify: final } : {}), ...(lost ? { lost } : {}) }
}

/**
 * verify: each judges tasks by the verify command only when the base itself passes it;
 * otherwise the command's verdict on the base is the run's verify result.
 */
async function verifyEachOnBase(
  stage: AgentStage,
  verifier: Verifier
): Promise<{ each: boolean; verify?: VerifyResult }> {
  const { options, logger } = stage.ws
  if (options.verify?.mode !== 'each') return { each: false }
  const onBase = await verifier.run(options.baseSha, 'verify-base')
  if (onBase.ok) return { each: true }
  logger.warning(
    `verify-command fails on the base ${options.baseSha.slice(0, 12)} already; not judging tasks by it`
  )
  return {
    each: false,
    verify: {
      ...onBase,
      mode: 'each',
      note: `the verify command already fails on the base commit, so it was not used to judge tasks`
    }
  }
}

/** The task results once integrated: merged, conflicted, broke verify, or lost for want of room. */
export function settle(
  results: Map<string, TaskResult>,
  produced: Map<string, Produced>,
  integration: Integration
): void {
  if (integration.lost !== undefined)
    for (const id of produced.keys())
      Object.assign(results.get(id)!, { status: 'failed', reason: integration.lost })
  for (const outcome of integration.outcomes) {
    const result = results.get(outcome.id)!
    Object.assign(result, {
      status: outcome.status,
      commit: outcome.tip,
      changedFiles: outcome.changedFiles,
      conflict: outcome.conflict,
      attempts: outcome.attempts,
      verifyTail: outcome.verifyTail
    })
    if (outcome.status === 'conflicted')
      result.reason = `conflicts with the integration branch in ${outcome.conflict?.files.join(', ') || 'the tree'}`
    if (outcome.status === 'broke-verify')
      result.reason = 'merged cleanly, but the verify command fails with it; taken back out'
  }
}
