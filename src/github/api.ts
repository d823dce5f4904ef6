import type { Octokit } from './client.js'

export interface IssueData {
  number: number
  title: string
  body: string
  url: string
  state: string
  isPullRequest: boolean
  author: string
  labels: string[]
  updatedAt: string
}

export interface CommentData {
  id: number
  body: string
  author: string
  authorType: string
  url: string
}

export interface PullData {
  number: number
  url: string
  title: string
  body: string
}

/**
 * The few REST calls agent-fanout makes, behind an interface so logic modules can be tested
 * with a plain object and the real implementation with the local HTTP stand-in.
 */
export interface GitHubApi {
  readonly owner: string
  readonly repo: string
  getDefaultBranch(): Promise<string>
  getIssue(issueNumber: number): Promise<IssueData>
  /** Legacy base role: admin, write (includes maintain), read (includes triage) or none. */
  getPermission(username: string): Promise<string>
  listComments(issueNumber: number): Promise<CommentData[]>
  createComment(issueNumber: number, body: string): Promise<CommentData>
  updateComment(commentId: number, body: string): Promise<CommentData>
  findOpenPull(head: string, base: string): Promise<PullData | undefined>
  createPull(pull: {
    title: string
    head: string
    base: string
    body: string
    draft: boolean
  }): Promise<PullData>
  updatePull(pullNumber: number, pull: { title: string; body: string }): Promise<PullData>
  addReaction(
    commentId: number,
    content: '+1' | '-1' | 'eyes' | 'rocket' | 'confused'
  ): Promise<void>
}

export function octokitApi(octokit: Octokit, owner: string, repo: string): GitHubApi {
  const toComment = (c: {
    id: number
    body?: string | null
    user?: { login: string; type: string } | null
    html_url: string
  }): CommentData => ({
    id: c.id,
    body: c.body ?? '',
    author: c.user?.login ?? '',
    authorType: c.user?.type ?? '',
    url: c.html_url
  })
  const toPull = (p: {
    number: number
    html_url: string
    title: string
    body?: string | null
  }): PullData => ({
    number: p.number,
    url: p.html_url,
    title: p.title,
    body: p.body ?? ''
  })
  return {
    owner,
    repo,
    async getDefaultBranch() {
      const { data } = await octokit.rest.repos.get({ owner, repo })
      return data.default_branch
    },
    async getIssue(issueNumber) {
      const { data } = await octokit.rest.issues.get({ owner, repo, issue_number: issueNumber })
      return {
        number: data.number,
        title: data.title,
        body: data.body ?? '',
        url: data.html_url,
        state: data.state,
        isPullRequest: Boolean(data.pull_request),
        author: data.user?.login ?? '',
        labels: data.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))),
        updatedAt: data.updated_at
      }
    },
    async getPermission(username) {
      const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({
        owner,
        repo,
        username
      })
      return data.permission
    },
    async listComments(issueNumber) {
      const comments = await octokit.paginate(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: issueNumber,
        per_page: 100
      })
      return comments.map(toComment)
    },
    async createComment(issueNumber, body) {
      const { data } = await octokit.rest.issues.createComment({
        owner,
        repo,
        issue_number: issueNumber,
        body
      })
      return toComment(data)
    },
    async updateComment(commentId, body) {
      const { data } = await octokit.rest.issues.updateComment({
        owner,
        repo,
        comment_id: commentId,
        body
      })
      return toComment(data)
    },
    async findOpenPull(head, base) {
      const { data } = await octokit.rest.pulls.list({
        owner,
        repo,
        state: 'open',
        head: `${owner}:${head}`,
        base,
        per_page: 10
      })
      return data.length > 0 ? toPull(data[0]) : undefined
    },
    async createPull(pull) {
      const { data } = await octokit.rest.pulls.create({ owner, repo, ...pull })
      return toPull(data)
    },
    async addReaction(commentId, content) {
      await octokit.rest.reactions.createForIssueComment({
        owner,
        repo,
        comment_id: commentId,
        content
      })
    },
    async updatePull(pullNumber, pull) {
      const { data } = await octokit.rest.pulls.update({
        owner,
        repo,
        pull_number: pullNumber,
        ...pull
      })
      return toPull(data)
    }
  }
}
