import type { Git } from './git/git.js'
import { commitMerge, conflictInfo, mergeTree } from './git/merge.js'
import { MergeAttributes } from './git/attributes.js'
import { MemoryMerger } from './git/memory-merge.js'
import type { TipSurvey } from './git/tips.js'
import type { ConflictInfo, Logger, StrategyAttempt, TaskStatus } from './types.js'

export type ConflictStrategy = 'rerun' | 'agent' | 'report'
export const CONFLICT_STRATEGIES: readonly ConflictStrategy[] = ['rerun', 'agent', 'report']

/** A task branch waiting to be merged. */
export interface IntegrationTask {
  id: string
  title: string
  branch: string
  tip: string
  changedFiles: string[]
  /**
   * Its branch holds commits by people (see people.ts): the `rerun` strategy, which replaces
   * the branch with a new agent's work, is not tried on it.
   */
  keepBranch?: boolean
  /**
   * Tasks whose work its branch holds (it started from their merge: run/start-commit.ts). It is
   * merged only after them, and not at all when one of them stays out (its merge would bring
   * that work in).
   */
  dependsOn?: string[]
}

export interface IntegrationOutcome {
  id: string
  status: Extract<
    TaskStatus,
    | 'merged'
    | 'merged-after-rerun'
    | 'merged-after-resolve'
    | 'conflicted'
    | 'broke-verify'
    | 'skipped'
  >
  /** Why it was skipped: a task it builds on stayed out ("T1 conflicted"). */
  reason?: string
  /** Tip of the task's work (new when a rerun replaced it). */
  tip: string
  changedFiles: string[]
  conflict?: ConflictInfo
  attempts?: StrategyAttempt[]
  verifyTail?: string
}

/** What the engine lends the merge loop: ways to rerun, resolve and verify (all optional). */
export interface IntegrationHooks {
  strategies: readonly ConflictStrategy[]
  maxReruns: number
  /** Runs the task's agent again from `onto`; returns its new tip. */
  rerun?(
    task: IntegrationTask,
    onto: string,
    attempt: number,
    conflict: ConflictInfo
  ): Promise<{ tip: string; changedFiles: string[] } | { error: string }>
  /** Starts `git merge` of the task onto `onto` in a worktree and runs the resolve command. */
  resolve?(
    task: IntegrationTask,
    onto: string,
    conflict: ConflictInfo,
    mergedSoFar: IntegrationTask[]
  ): Promise<{ commit: string } | { error: string }>
  /** verify: each — runs the verify command on a candidate integration commit. */
  verify?(commit: string, task: IntegrationTask): Promise<{ ok: boolean; tail: string }>
  logger: Logger
}

/**
 * Why `task` cannot be merged: a task it builds on that is in this integration did not merge
 * (its branch holds that work, so merging it would bring the work in after all). Tasks come in
 * dependency order, so their outcomes are known.
 */
function dependenciesLeftOut(
  task: IntegrationTask,
  tasks: readonly IntegrationTask[],
  outcomes: readonly IntegrationOutcome[]
): string | undefined {
  const missing = (task.dependsOn ?? []).flatMap((id) => {
    if (!tasks.some((t) => t.id === id)) return []
    const outcome = outcomes.find((o) => o.id === id)
    if (!outcome) return [`${id} was not merged first`]
    if (outcome.status === 'skipped') return [`${id} skipped (${outcome.reason})`]
    if (outcome.status === 'conflicted' || outcome.status === 'broke-verify')
      return [`${id} ${outcome.status}`]
    // Its work went in as a re-run on the integration branch, not as the branch this task
    // was built on: merging this task would bring the first attempt in as well.
    if (outcome.status === 'merged-after-rerun')
      return [
        `${id} was merged after a re-run, and this task was built on its first attempt (run it again)`
      ]
    return []
  })
  return missing.length ? missing.join(', ') : undefined
}

function keptOut(task: IntegrationTask): Pick<IntegrationOutcome, 'id' | 'tip' | 'changedFiles'> {
  return { id: task.id, tip: task.tip, changedFiles: task.changedFiles }
}

/** From this many tasks on, merging in memory is cheaper than a merge-tree per task. */
export const MEMORY_MERGE_MIN_TASKS = 3

const mergeMessage = (task: IntegrationTask, issueNumber: number, how = ''): string =>
  `Merge task ${task.id}: ${task.title}${how}\n\nAgent-Fanout-Task: ${task.id}\nAgent-Fanout-Issue: ${issueNumber}\n`

/**
 * Builds the integration branch: from `baseSha`, each task merged in order with one merge commit
 * per task, computed in git's object store (`merge-tree --write-tree`, the machinery of
 * `git merge`; tasks that only add or edit files nobody merged before are merged in memory by
 * MemoryMerger, with the same result and no process per merge). A conflicting task goes through the strategies in order: `rerun` (its agent
 * again, on the integration state so far), `agent` (a resolve command on git's conflict
 * markers), `report` (left out for a human). With verify: each, a merge that breaks the check
 * is taken back out, which with sequential merges just means not advancing past it.
 * Merge drivers follow the .gitattributes of the integration branch, as `git merge` on it would.
 */
export async function integrate(
  git: Git,
  options: Parameters<typeof mergeInOrder>[1]
): ReturnType<typeof mergeInOrder> {
  const attributes = new MergeAttributes(
    git,
    options.baseSha,
    options.tasks.map((t) => t.tip),
    options.surveys
  )
  try {
    return await mergeInOrder(git, options, attributes)
  } finally {
    await attributes.dispose()
  }
}

async function mergeInOrder(
  git: Git,
  options: {
    baseSha: string
    /**
     * Where the integration branch starts, when not at baseSha: the branch as people left it
     * (people.ts), so that their commits stay in it.
     */
    startSha?: string
    /**
     * What the integration branch must still point at when it is updated ('' for "must not
     * exist"): someone who commits onto it meanwhile is not overwritten. Unset: not checked.
     */
    expectedTip?: string
    integrationBranch: string
    issueNumber: number
    tasks: IntegrationTask[]
    hooks: IntegrationHooks
    /** surveyTips() against baseSha of (some of) the tasks' tips, if the caller has it. */
    surveys?: ReadonlyMap<string, TipSurvey>
  },
  attributes: MergeAttributes
): Promise<{ sha: string; outcomes: IntegrationOutcome[]; movedTo?: string }> {
  const { hooks } = options
  let current = options.startSha ?? options.baseSha
  const outcomes: IntegrationOutcome[] = []
  const mergedSoFar: IntegrationTask[] = []

  // Its set-up costs about as much as merging two tasks with git.
  let memory =
    options.tasks.length < MEMORY_MERGE_MIN_TASKS || current !== options.baseSha
      ? undefined
      : await MemoryMerger.prepare(
          git,
          options.baseSha,
          options.tasks.map((t) => t.tip),
          options.surveys
        ).catch((error: unknown) => {
          hooks.logger.debug(`merging in memory is not available: ${String(error)}`)
          return undefined
        })

  /** The in-memory merger, kept to flush its writes even after a failure turned it off. */
  const merger = memory
  // A merge is only kept when the verify command (if any) still passes on it.
  const accept = async (
    task: IntegrationTask,
    commit: string,
    outcome: IntegrationOutcome
  ): Promise<void> => {
    if (hooks.verify) {
      await merger?.flush()
      const verdict = await hooks.verify(commit, task)
      if (!verdict.ok) {
        hooks.logger.info(`${task.id}: its merge breaks the verify command; taken back out`)
        outcomes.push({ ...outcome, status: 'broke-verify', verifyTail: verdict.tail })
        return
      }
    }
    current = commit
    attributes.merged(
      commit,
      outcome.tip,
      outcome.status === 'merged-after-rerun'
        ? 'rerun'
        : outcome.status === 'merged-after-resolve'
          ? 'resolve'
          : 'task'
    )
    mergedSoFar.push({ ...task, tip: outcome.tip, changedFiles: outcome.changedFiles })
    hooks.logger.info(`${task.id}: ${outcome.status}`)
    outcomes.push(outcome)
  }

  for (const task of options.tasks) {
    const missing = dependenciesLeftOut(task, options.tasks, outcomes)
    if (missing) {
      hooks.logger.info(`${task.id}: skipped, ${missing}`)
      outcomes.push({ ...keptOut(task), status: 'skipped', reason: missing })
      continue
    }
    // The in-memory path applies only while the integration branch is what it built.
    if (memory && memory.head === current) {
      const fast = await memory
        .merge(task.tip, mergeMessage(task, options.issueNumber))
        .catch((error: unknown) => {
          hooks.logger.debug(`${task.id}: in-memory merge failed (${String(error)}); using git`)
          memory = undefined
          return undefined
        })
      if (fast) {
        await accept(task, fast.commit, {
          id: task.id,
          status: 'merged',
          tip: task.tip,
          changedFiles: task.changedFiles
        })
        if (current === fast.commit) memory?.advance(fast)
        continue
      }
    }
    // Git reads the integration branch from here: what was merged in memory must be stored.
    await merger?.flush()
    const first = await mergeTree(
      git,
      current,
      task.tip,
      await attributes.forMerge(current, task.tip)
    )
    if (first.clean) {
      const commit = await commitMerge(
        git,
        first.tree,
        current,
        task.tip,
        mergeMessage(task, options.issueNumber)
      )
      await accept(task, commit, {
        id: task.id,
        status: 'merged',
        tip: task.tip,
        changedFiles: task.changedFiles
      })
      continue
    }
    const conflict = await conflictInfo(
      git,
      first,
      { sha: current, name: options.integrationBranch },
      { sha: task.tip, name: task.branch }
    )
    conflict.withTasks = mergedSoFar
      .filter((m) => m.changedFiles.some((f) => conflict.files.includes(f)))
      .map((m) => ({ id: m.id, branch: m.branch }))
    hooks.logger.info(`${task.id}: conflicts in ${conflict.files.join(', ') || 'the tree'}`)
    const attempts: StrategyAttempt[] = []
    let done = false
    for (const strategy of hooks.strategies) {
      if (done) break
      if (strategy === 'report') {
        attempts.push({
          strategy,
          outcome: 'left out of the integration branch for a human to merge'
        })
        break
      }
      if (strategy === 'rerun') {
        if (!hooks.rerun) continue
        if (task.keepBranch) {
          attempts.push({
            strategy,
            outcome: 'not tried: its branch holds commits by people, which a re-run would replace'
          })
          continue
        }
        for (let attempt = 1; attempt <= hooks.maxReruns && !done; attempt++) {
          const rerun = await hooks.rerun(task, current, attempt, conflict)
          if ('error' in rerun) {
            attempts.push({ strategy, outcome: `re-run ${attempt} gave up: ${rerun.error}` })
            break
          }
          const again = await mergeTree(
            git,
            current,
            rerun.tip,
            await attributes.forMerge(current, rerun.tip)
          )
          if (!again.clean) {
            attempts.push({
              strategy,
              outcome: `re-run ${attempt} still conflicts in ${again.files.join(', ')}`
            })
            continue
          }
          const commit = await commitMerge(
            git,
            again.tree,
            current,
            rerun.tip,
            mergeMessage(task, options.issueNumber, ' (re-run on the integration branch)')
          )
          attempts.push({
            strategy,
            outcome: `re-run ${attempt} on the integration branch merged cleanly`
          })
          await accept({ ...task, tip: rerun.tip }, commit, {
            id: task.id,
            status: 'merged-after-rerun',
            tip: rerun.tip,
            changedFiles: rerun.changedFiles,
            conflict,
            attempts
          })
          done = true
        }
        if (!done && attempts.at(-1)?.strategy !== 'rerun')
          attempts.push({ strategy, outcome: 'gave up' })
      } else if (strategy === 'agent') {
        if (!hooks.resolve) continue
        const resolved = await hooks.resolve(task, current, conflict, mergedSoFar)
        if ('error' in resolved) {
          attempts.push({ strategy, outcome: `resolve command gave up: ${resolved.error}` })
          continue
        }
        attempts.push({ strategy, outcome: 'the resolve command resolved every conflict' })
        await accept(task, resolved.commit, {
          id: task.id,
          status: 'merged-after-resolve',
          tip: task.tip,
          changedFiles: task.changedFiles,
          conflict,
          attempts
        })
        done = true
      }
    }
    if (!done)
      outcomes.push({
        id: task.id,
        status: 'conflicted',
        tip: task.tip,
        changedFiles: task.changedFiles,
        conflict,
        attempts
      })
  }
  await merger?.flush()
  const ref = `refs/heads/${options.integrationBranch}`
  const update = await git.run(
    [
      'update-ref',
      ref,
      current,
      ...(options.expectedTip !== undefined ? [options.expectedTip] : [])
    ],
    { okExitCodes: options.expectedTip !== undefined ? [128] : [] }
  )
  if (update.exitCode !== 0) {
    const now = await git.run(['rev-parse', '-q', '--verify', ref], { okExitCodes: [1] })
    return { sha: current, outcomes, movedTo: now.stdout.trim() }
  }
  return { sha: current, outcomes }
}
