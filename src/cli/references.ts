import type { Git } from '../core/git/git.js'
import { sanitizeIssueText } from '../core/tasks/sanitize.js'
import type { Logger, Task } from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import { octokitApi } from '../github/api.js'
import { createOctokit } from '../github/client.js'

// `- [ ] #123` in a local issue file means "the task is issue 123". With a GitHub token and a
// repository the CLI reads that issue, as the action does; without them the item cannot be run
// (its title would be "#123"): it is reported as an unresolved reference and skipped, and the
// other tasks run.

export interface GitHubSource {
  token: string
  owner: string
  repo: string
}

export interface Unresolved {
  task: Task
  message: string
}

/** Reads referenced issues into their tasks (title, body); returns the ones it could not. */
export async function resolveReferences(
  tasks: Task[],
  github: GitHubSource | undefined,
  logger: Logger
): Promise<Unresolved[]> {
  const refs = tasks.filter((t) => t.reference && !t.checked)
  if (refs.length === 0) return []
  if (!github)
    return refs.map((task) => ({
      task,
      message: `${task.id} refers to #${task.reference!.issueNumber}, which was not read: unresolved reference (set GITHUB_TOKEN and --github-repo owner/name to read it), so it was skipped`
    }))
  const octokit = createOctokit(github.token, logger, { maxCalls: 10 + refs.length })
  const api = octokitApi(octokit, github.owner, github.repo)
  for (const task of refs) {
    const n = task.reference!.issueNumber
    try {
      const issue = await api.getIssue(n)
      task.title = sanitizeIssueText(issue.title).trim()
      task.body = [`(from #${n}: ${issue.url})`, '', sanitizeIssueText(issue.body).trim()]
        .join('\n')
        .trim()
    } catch (error) {
      throw new UserError(
        `task ${task.id} refers to #${n} of ${github.owner}/${github.repo}, which could not be read: ${errorMessage(error)}`
      )
    }
  }
  return []
}

/**
 * The GitHub repository `#123` items refer to: --github-repo, else origin's when it is on
 * GitHub (github.com, or the host of GITHUB_SERVER_URL); with the token from GITHUB_TOKEN.
 */
export async function gitHubSource(
  git: Git,
  given: string | undefined,
  env: NodeJS.ProcessEnv
): Promise<GitHubSource | undefined> {
  const token = env.GITHUB_TOKEN?.trim() || env.GH_TOKEN?.trim()
  let name = given?.trim()
  if (name !== undefined && !/^[\w.-]+\/[\w.-]+$/.test(name))
    throw new UserError(`--github-repo must look like owner/name, got "${given}"`)
  if (!name) name = await originRepository(git, env)
  if (!token || !name) return undefined
  const [owner, repo] = name.split('/')
  return { token, owner, repo }
}

async function originRepository(git: Git, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const url = await git.out(['remote', 'get-url', 'origin']).catch(() => '')
  const host = (() => {
    try {
      return new URL(env.GITHUB_SERVER_URL || 'https://github.com').host
    } catch {
      return 'github.com'
    }
  })()
  const escaped = host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const match = new RegExp(
    `^(?:https://(?:[^@/]+@)?|ssh://git@|git@)${escaped}[:/]([\\w.-]+/[\\w.-]+?)(?:\\.git)?/?$`
  ).exec(url)
  return match?.[1]
}
