import { collectWork, type CollectOptions } from '../git/collect.js'
import type { Git } from '../git/git.js'
import { surveyTips, type TipSurvey } from '../git/tips.js'
import type { Worktree } from '../git/worktrees.js'
import type { TaskResult } from '../types.js'
import { errorMessage } from '../util/errors.js'
import type { Committed } from './agents.js'
import type { Workspace } from './prepare.js'
import { describe, type Produced } from './task-result.js'

const WORKFLOW_DIR = '.github/workflows/'

type Survey = TipSurvey | { error: string }

/** What the judge made of the committed work. */
export interface Judged {
  results: Map<string, TaskResult>
  /** Work that is a result: a commit descending from the base that changes files. */
  produced: Map<string, Produced>
  /** Every task branch and its commit after the judge (refs/heads/… → sha). */
  tips: Map<string, string>
}

/**
 * Judges all committed work at once, after the last agent: it must descend from the base,
 * change files, and (when asked) leave .github/workflows/ alone. A task that produced nothing
 * to merge loses its branch, unless the branch keeps work of its own.
 */
export async function judge(ws: Workspace, committed: Committed[]): Promise<Judged> {
  const { git, options, logger } = ws
  const results = new Map<string, TaskResult>()
  const produced = new Map<string, Produced>()
  const [surveys, tips] = await Promise.all([
    surveyEach(
      git,
      options.baseSha,
      committed.map((c) => c.tip)
    ),
    branchTips(git, options.branchPrefix)
  ])
  for (const { task, tip, partial } of committed) {
    const branch = partial.branch
    const work = judgeWork(tip, surveys.get(tip), options.baseSha)
    const workflows = 'error' in work ? undefined : blockedWorkflowFiles(ws, work.changedFiles)
    // Work that is not a result (it left the base) is still kept on its branch.
    const keep = 'error' in work && surveyOf(surveys.get(tip))?.own === true
    const failed = { ...partial, status: 'failed' as const, changedFiles: [] }
    if (keep)
      results.set(task.id, {
        ...failed,
        reason: `${work.error}; its branch ${branch} keeps that work`,
        commit: tip
      })
    else if ('error' in work) results.set(task.id, { ...failed, reason: work.error })
    else if (work.changedFiles.length === 0)
      results.set(task.id, {
        ...partial,
        status: 'no-changes',
        changedFiles: [],
        reason: 'the agent changed no file'
      })
    else if (workflows)
      results.set(task.id, { ...failed, changedFiles: work.changedFiles, reason: workflows })
    else {
      produced.set(task.id, work)
      results.set(task.id, {
        ...partial,
        status: 'merged',
        changedFiles: work.changedFiles,
        commit: work.tip
      })
    }
    // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind.
    if (!produced.has(task.id) && !keep) {
      await git.run(['update-ref', '-d', `refs/heads/${branch}`])
      tips.delete(`refs/heads/${branch}`)
    }
    logger.info(`[${task.id}] ${describe(results.get(task.id))}`)
  }
  return { results, produced, tips }
}

/**
 * Refs are shared too: an agent may have moved another task's branch. The recorded result is
 * what gets merged and pushed; the move is reported.
 */
export async function guardTaskBranches(
  ws: Workspace,
  produced: Map<string, Produced>,
  tips: Map<string, string>
): Promise<void> {
  for (const [id, work] of produced) {
    const branch = ws.branchOf({ id })
    const now = tips.get(`refs/heads/${branch}`) ?? ''
    if (now !== work.tip) {
      ws.warn(
        `Branch ${branch} was moved outside its task (to ${now.slice(0, 12) || 'nothing'}); the task's own result ${work.tip.slice(0, 12)} is used.`
      )
      await ws.git.run(['update-ref', `refs/heads/${branch}`, work.tip])
    }
  }
}

/** Why a task's changes cannot be pushed (workflow files without the permission), if so. */
export function blockedWorkflowFiles(ws: Workspace, files: string[]): string | undefined {
  const touched = files.filter((f) => f.startsWith(WORKFLOW_DIR))
  if (!ws.options.blockWorkflowChanges || touched.length === 0) return undefined
  return `it changes ${touched.join(', ')}; pushing workflow files needs a token with the \`workflows\` permission (GITHUB_TOKEN never has it). Use such a token and set allow-workflow-changes: true, or keep the task away from .github/workflows/`
}

/** Collects what a re-run left and judges it (one task, all of it at once). */
export async function collectAndJudge(
  git: Git,
  wt: Worktree,
  options: CollectOptions
): Promise<Produced | { error: string }> {
  const work = await collectWork(git, wt, options)
  if ('error' in work) return { error: work.error }
  const survey = (await surveyEach(git, options.startSha, [work.tip])).get(work.tip)
  return judgeWork(work.tip, survey, options.startSha)
}

const surveyOf = (s: Survey | undefined): TipSurvey | undefined =>
  s && !('error' in s) ? s : undefined

/** The task's result, if it is one: a commit on top of where the task started, and what it changes. */
function judgeWork(
  tip: string,
  survey: Survey | undefined,
  startSha: string
): Produced | { error: string } {
  if (!survey) return { error: `its result ${tip.slice(0, 12)} could not be read` }
  if ('error' in survey) return survey
  if (!survey.descends) {
    return {
      error: `the agent left HEAD at ${tip.slice(0, 12)}, which does not descend from ${startSha.slice(0, 12)}`
    }
  }
  return { tip, changedFiles: survey.changes.map((change) => change.path) }
}

/**
 * surveyTips() for all tips at once; if git refuses the batch (a tip that is not a commit, say
 * an agent wrote nonsense into its HEAD), each tip on its own, so one bad tip fails only its task.
 */
async function surveyEach(git: Git, baseSha: string, tips: string[]): Promise<Map<string, Survey>> {
  if (tips.length === 0) return new Map()
  try {
    return await surveyTips(git, baseSha, tips)
  } catch {
    const one = async (tip: string): Promise<[string, Survey]> => {
      try {
        return [tip, (await surveyTips(git, baseSha, [tip])).get(tip)!]
      } catch (error) {
        return [
          tip,
          { error: `its result ${tip.slice(0, 12)} is not usable: ${errorMessage(error)}` }
        ]
      }
    }
    return new Map(await Promise.all(tips.map(one)))
  }
}

/** Every branch under the prefix and the commit it points at, from one git process. */
async function branchTips(git: Git, prefix: string): Promise<Map<string, string>> {
  const out = await git.out([
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `refs/heads/${prefix}/`
  ])
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))])
  )
}
