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
  createdAt: string
  updatedAt: string
}

/** A sub-issue: an issue, possibly of another repository (`owner/name`, from repository_url). */
export interface SubIssueData extends IssueData {
  repository: string
}

export interface LabelEvent {
  event: 'labeled' | 'unlabeled'
  label: string
  actor: string
  actorType: string
  createdAt: string
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
  /** Replaces the issue's body (ticking boxes: github/tick-boxes.ts). */
  updateIssueBody(issueNumber: number, body: string): Promise<IssueData>
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
  /** Open issues (not pull requests) carrying `label`, oldest first. */
  listOpenIssuesWithLabel(label: string): Promise<IssueData[]>
  listLabelEvents(issueNumber: number): Promise<LabelEvent[]>
  /** The issue's sub-issues, in the order GitHub lists them (open and closed). */
  listSubIssues(issueNumber: number): Promise<SubIssueData[]>
  /** Adds labels; resolves to the labels the issue carries afterwards. */
  addLabels(issueNumber: number, labels: string[]): Promise<string[]>
  /** Removes a label; a label the issue does not carry is not an error. */
  removeLabel(issueNumber: number, label: string): Promise<void>
  /** When the issue's body was last edited, or null if never (GraphQL: REST does not tell). */
  getBodyLastEditedAt(issueNumber: number): Promise<string | null>
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
  const toIssue = (data: {
    number: number
    title: string
    body?: string | null
    html_url: string
    state: string
    pull_request?: unknown
    user?: { login: string } | null
    labels: (string | { name?: string })[]
    created_at: string
    updated_at: string
  }): IssueData => ({
    number: data.number,
    title: data.title,
    body: data.body ?? '',
    url: data.html_url,
    state: data.state,
    isPullRequest: Boolean(data.pull_request),
    author: data.user?.login ?? '',
    labels: data.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))),
    createdAt: data.created_at,
    updatedAt: data.updated_at
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
      return toIssue(data)
    },
    async updateIssueBody(issueNumber, body) {
      const { data } = await octokit.rest.issues.update({
        owner,
        repo,
        issue_number: issueNumber,
        body
      })
      return toIssue(data)
    },
    async listOpenIssuesWithLabel(label) {
      const issues = await octokit.paginate(octokit.rest.issues.listForRepo, {
        owner,
        repo,
        state: 'open',
        labels: label,
        sort: 'created',
        direction: 'asc',
        per_page: 100
      })
      return issues.filter((i) => !i.pull_request).map(toIssue)
    },
    async listLabelEvents(issueNumber) {
      const events = await octokit.paginate(octokit.rest.issues.listEvents, {
        owner,
        repo,
        issue_number: issueNumber,
        per_page: 100
      })
      return events
        .filter(
          (e) => (e.event === 'labeled' || e.event === 'unlabeled') && 'label' in e && e.label
        )
        .map((e) => {
          const ev = e as {
            event: 'labeled' | 'unlabeled'
            label: { name: string }
            actor?: { login: string; type: string } | null
            created_at: string
          }
          return {
            event: ev.event,
            label: ev.label.name,
            actor: ev.actor?.login ?? '',
            actorType: ev.actor?.type ?? '',
            createdAt: ev.created_at
          }
        })
    },
    async listSubIssues(issueNumber) {
      const subs = await octokit.paginate(octokit.rest.issues.listSubIssues, {
        owner,
        repo,
        issue_number: issueNumber,
        per_page: 100
      })
      return subs.map((s) => ({
        ...toIssue(s),
        repository: s.repository_url.replace(/^.*\/repos\//, '')
      }))
    },
    async addLabels(issueNumber, labels) {
      const { data } = await octokit.rest.issues.addLabels({
        owner,
        repo,
        issue_number: issueNumber,
        labels
      })
      return data.map((l) => l.name)
    },
    async removeLabel(issueNumber, label) {
      try {
        await octokit.rest.issues.removeLabel({
          owner,
          repo,
          issue_number: issueNumber,
          name: label
        })
      } catch (error) {
        if ((error as { status?: number }).status !== 404) throw error
      }
    },
    async getBodyLastEditedAt(issueNumber) {
      const data = await octokit.graphql<{
        repository: { issue: { lastEditedAt: string | null } | null }
      }>(
        'query($owner: String!, $repo: String!, $number: Int!) { repository(owner: $owner, name: $repo) { issue(number: $number) { lastEditedAt } } }',
        { owner, repo, number: issueNumber }
      )
      return data.repository.issue?.lastEditedAt ?? null
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
