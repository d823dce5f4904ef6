import type { RootContent } from 'mdast'
import type { Git } from '../core/git/git.js'
import { taskCommitSubjects } from '../core/git/subjects.js'
import { renderPullRequestBody } from '../core/report/markdown.js'
import { mergedSubIssues } from '../core/tasks/sub-issues.js'
import type { FanoutResult, Logger, Task } from '../core/types.js'
import { octokitApi, type GitHubApi } from '../github/api.js'
import { createOctokit } from '../github/client.js'
import { upsertPullRequest } from '../github/publish.js'
import {
  pullRefusal,
  refusalFailsStep,
  refusalNotice,
  refusalReason,
  type PullRefusal
} from '../github/pull-refusal.js'
import type { ActionInputs } from './inputs.js'
import type { Run } from './steps/context.js'

export interface PullRequestOutcome {
  pull?: { number: number; url: string }
  /** GitHub refused: what the status comment and the step say instead. */
  refused?: {
    refusal: PullRefusal
    /** "No pull request:" line of the status comment. */
    reason: string
    /** Blocks for the status comment (ReportContext.notices). */
    notices: RootContent[]
    /** Whether the step fails (see refusalFailsStep). */
    failsStep: boolean
  }
}

/**
 * Opens or updates the pull request (with `pr-token`'s API when set), its body holding the
 * per-task summary and `Closes #N` for each merged sub-issue. An HTTP error from GitHub is
 * not thrown: it comes back as `refused`, so the status comment is still posted, with the fix.
 */
export async function publishPullRequest(o: {
  api: GitHubApi
  usedPrToken: boolean
  git: Git
  logger: Logger
  result: FanoutResult
  tasks: Task[]
  issue: { number: number; title: string }
  baseBranch: string
  allMerged: boolean
  draft: boolean
  /** Branches on origin that hold the work (integration and task branches). */
  onOrigin: string[]
  compareUrl?: string
}): Promise<PullRequestOutcome> {
  const { result } = o
  const subjects = await taskCommitSubjects(
    o.git,
    result.baseSha,
    result.tasks.filter((t) => t.status !== 'skipped')
  )
  const body = renderPullRequestBody(result, o.issue.number, o.allMerged, {
    closes: mergedSubIssues(o.tasks, result.tasks),
    subjects
  })
  try {
    const pr = await upsertPullRequest(o.api, {
      head: result.integrationBranch,
      base: o.baseBranch,
      title: o.issue.title,
      body,
      draft: o.draft
    })
    o.logger.info(`${pr.created ? 'Opened' : 'Updated'} pull request #${pr.number}: ${pr.url}`)
    return { pull: { number: pr.number, url: pr.url } }
  } catch (error) {
    const refusal = pullRefusal(error, o.usedPrToken)
    if (!refusal) throw error
    const reason = refusalReason(refusal)
    o.logger.error(`No pull request: ${reason} GitHub said: ${refusal.message}`)
    return {
      refused: {
        refusal,
        reason,
        failsStep: refusalFailsStep(refusal),
        notices: refusalNotice(refusal, {
          head: result.integrationBranch,
          base: o.baseBranch,
          pushed: o.onOrigin,
          compareUrl: o.compareUrl
        })
      }
    }
  }
}

/** The page where a person opens the pull request by hand, on the server the run is on. */
export function compareUrl(env: NodeJS.ProcessEnv, base: string, head: string): string | undefined {
  const server = env.GITHUB_SERVER_URL
  const repo = env.GITHUB_REPOSITORY
  if (!server || !repo) return undefined
  return `${server}/${repo}/compare/${encodeURI(base)}...${encodeURI(head)}?expand=1`
}

/**
 * The API that opens and updates the pull request: one on `pr-token` when it is set (its pull
 * requests start the repository's workflows), else the run's own. Used for nothing else.
 */
export function pullRequestApi(
  inputs: Pick<ActionInputs, 'prToken'>,
  api: GitHubApi,
  logger: Logger
): { api: GitHubApi; usedPrToken: boolean } {
  if (!inputs.prToken) return { api, usedPrToken: false }
  return {
    api: octokitApi(createOctokit(inputs.prToken, logger), api.owner, api.repo),
    usedPrToken: true
  }
}

/** Every token of the run: kept from agents, their tools and the logs. */
export function runSecrets(inputs: Pick<ActionInputs, 'token' | 'prToken'>): string[] {
  return inputs.prToken ? [inputs.token, inputs.prToken] : [inputs.token]
}

/**
 * The branches on origin that hold the run's work, for the report when there is no pull request:
 * the integration branch and each task branch with a commit worth keeping (see publishBranches),
 * less those whose push was rejected.
 */
export function branchesOnOrigin(
  result: FanoutResult,
  pushes: { branch: string; ok: boolean }[]
): string[] {
  const rejected = new Set(pushes.filter((p) => !p.ok).map((p) => p.branch))
  return [
    result.integrationBranch,
    ...result.tasks
      .filter((t) => t.commit && t.status !== 'skipped' && t.status !== 'no-changes')
      .map((t) => t.branch)
  ].filter((b) => !rejected.has(b))
}

/** publishPullRequest with what a run of the action knows (publish step). */
export function pullRequestStep(
  r: Pick<Run, 'inputs' | 'api' | 'git' | 'logger'>,
  o: {
    issue: { number: number; title: string }
    tasks: Task[]
    result: FanoutResult
    pushes: { branch: string; ok: boolean }[]
    baseBranch: string
    allMerged: boolean
  }
): Promise<PullRequestOutcome> {
  return publishPullRequest({
    ...pullRequestApi(r.inputs, r.api, r.logger),
    git: r.git,
    logger: r.logger,
    result: o.result,
    tasks: o.tasks,
    issue: o.issue,
    baseBranch: o.baseBranch,
    allMerged: o.allMerged,
    draft: r.inputs.draft,
    onOrigin: branchesOnOrigin(o.result, o.pushes),
    compareUrl: compareUrl(process.env, o.baseBranch, o.result.integrationBranch)
  })
}
