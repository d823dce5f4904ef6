// An in-memory stand-in for the parts of GitHub's REST API the action uses, served by node:http on
// 127.0.0.1 so Octokit (undici fetch) sends real requests to it, in-process or from a child process
// through GITHUB_API_URL. Every request it gets and every answer it gives is checked against
// GitHub's published REST description (github-openapi.ts); what does not match is recorded in
// `violations`, and test-support/jest-setup.ts fails the test that caused it.
import { execFile } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { GitHubOpenApi } from './github-openapi.js'

export type Permission = 'admin' | 'write' | 'read' | 'none'
export type RoleName = Permission | 'maintain' | 'triage'

export interface FakeUser {
  login: string
  type?: string
}

export interface FakeIssue {
  number: number
  title: string
  body: string | null
  state?: 'open' | 'closed'
  user?: FakeUser
  labels?: string[]
  created_at?: string
  updated_at?: string
  /** When the body was last edited (GraphQL Issue.lastEditedAt); unset if never. */
  last_edited_at?: string
  pull_request?: object
  /**
   * Serve the labels as plain names, a form GitHub's issue schema allows next to label objects
   * (clients must read both).
   */
  labelsAsStrings?: boolean
}

export interface FakeComment {
  id: number
  issue_number: number
  body: string
  user: { login: string; type: string }
  created_at: string
  updated_at: string
  html_url: string
}

export interface FakePull {
  number: number
  title: string
  body: string
  head: string
  base: string
  draft: boolean
  state: 'open' | 'closed'
  html_url: string
  user?: { login: string; type: string }
  created_at?: string
  updated_at?: string
}

/**
 * An issue event. Besides label events, GitHub lists many other kinds on the same endpoint;
 * the fields below give the ones the stand-in serves their documented shapes.
 */
export interface FakeIssueEvent {
  event: string
  actor: { login: string; type: string }
  label?: { name: string }
  created_at: string
  /** `renamed` */
  rename?: { from: string; to: string }
  /** `assigned` / `unassigned` (the actor is the assigner) */
  assignee?: { login: string; type?: string }
  /** `milestoned` / `demilestoned` */
  milestone?: { title: string }
  /** `referenced` / `closed` by a commit */
  commit_id?: string
}

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string | string[] | undefined>
  body: unknown
  /** When it arrived (epoch ms), to order it against what agents and tests record. */
  at: number
}

export interface FaultResponse {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

interface Hold {
  method: string
  pattern: RegExp
  reached(): void
  released: Promise<void>
}

export interface FakeGitHubOptions {
  owner?: string
  repo?: string
  token?: string
  defaultBranch?: string
  /** A bare repository: POST/PATCH pulls then validate head/base against its real refs. */
  originDir?: string
  botLogin?: string
  /** Other tokens it accepts (a second token, like the action's pr-token); recorded per request. */
  extraTokens?: string[]
  /**
   * Check requests and answers against GitHub's REST description (default true). Only a test
   * of the stand-in itself that sends invalid requests on purpose should turn it off; prefer
   * takeViolations() to assert on what was caught.
   */
  conformance?: boolean
}

export const FAKE_REPOSITORY_ID = 123456789
export const MAX_COMMENT_LENGTH = 65536
const DOCS = 'https://docs.github.com/rest'
const REACTIONS = new Set(['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'])

interface Reply {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>
  ) {
    super(String(body.message))
  }
}

const notFound = (): HttpError =>
  new HttpError(404, { message: 'Not Found', documentation_url: DOCS })
const validationFailed = (...errors: Record<string, unknown>[]): HttpError =>
  new HttpError(422, { message: 'Validation Failed', errors, documentation_url: DOCS })

interface Ctx {
  method: string
  path: string
  query: Record<string, string>
  body: unknown
  params: string[]
}

type Handler = (ctx: Ctx) => Reply | Promise<Reply>

/** GitHub's timestamp format: ISO 8601 in UTC without milliseconds. */
export function githubTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function userId(login: string): number {
  if (login === 'github-actions[bot]') return 41898282
  let hash = 2166136261
  for (const char of login.toLowerCase()) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619)
  return 1000 + ((hash >>> 0) % 90000000)
}

function gitOutput(cwd: string, args: string[]): Promise<{ ok: boolean; stdout: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: cwd
  }
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env, encoding: 'utf8' }, (error, stdout) =>
      resolve({ ok: !error, stdout: stdout.trim() })
    )
  })
}

export class FakeGitHub {
  readonly owner: string
  readonly repo: string
  readonly token: string
  readonly defaultBranch: string
  readonly botLogin: string
  readonly originDir: string | undefined
  readonly extraTokens: string[]

  issues = new Map<number, FakeIssue>()
  comments: FakeComment[] = []
  pulls: FakePull[] = []
  reactions: { commentId: number; content: string }[] = []
  /** login -> legacy permission (maintain reads as write, triage as read, like GitHub's field). */
  permissions = new Map<string, Permission>()
  /** login -> role_name returned next to the legacy permission (defaults to the permission). */
  roleNames = new Map<string, RoleName>()
  issueEvents = new Map<number, FakeIssueEvent[]>()
  /** parent issue number -> its sub-issues' numbers, in the order GitHub lists them. */
  subIssues = new Map<number, number[]>()
  requests: RecordedRequest[] = []
  /**
   * Requests and answers that do not match GitHub's REST description (or GitHub's GraphQL
   * rules), in the order they happened. jest-setup.ts fails the test that left any.
   */
  violations: string[] = []

  /** Stand-ins started in this test file whose violations have not been collected yet. */
  private static readonly live = new Set<FakeGitHub>()

  private readonly server: http.Server
  private baseUrl = ''
  private faults: { method: string; pattern: RegExp; responses: FaultResponse[] }[] = []
  private holds: Hold[] = []
  private nextCommentId = 1000000001
  private nextReactionId = 7000000001
  private stopped = false
  private readonly conformance: boolean
  private readonly routes: [string, RegExp, Handler][]

  private constructor(opts: FakeGitHubOptions) {
    this.conformance = opts.conformance ?? true
    this.owner = opts.owner ?? 'octo-org'
    this.repo = opts.repo ?? 'demo'
    this.token = opts.token ?? 'ghs_fakeTokenFor_e2e_0123456789'
    this.defaultBranch = opts.defaultBranch ?? 'main'
    this.botLogin = opts.botLogin ?? 'github-actions[bot]'
    this.originDir = opts.originDir
    this.extraTokens = opts.extraTokens ?? []
    this.server = http.createServer((req, res) => {
      void this.handle(req, res)
    })
    const n = '(\\d+)'
    const seg = '([^/]+)'
    this.routes = [
      ['GET', /^$/, () => this.getRepo()],
      ['GET', /^\/issues$/, (c) => this.listIssues(c)],
      ['GET', new RegExp(`^/issues/${n}$`), (c) => this.getIssue(c)],
      ['PATCH', new RegExp(`^/issues/${n}$`), (c) => this.updateIssue(c)],
      ['GET', new RegExp(`^/collaborators/${seg}/permission$`), (c) => this.getPermission(c)],
      ['GET', new RegExp(`^/issues/${n}/comments$`), (c) => this.listComments(c)],
      ['POST', new RegExp(`^/issues/${n}/comments$`), (c) => this.createComment(c)],
      ['GET', new RegExp(`^/issues/comments/${n}$`), (c) => this.getComment(c)],
      ['PATCH', new RegExp(`^/issues/comments/${n}$`), (c) => this.updateComment(c)],
      ['DELETE', new RegExp(`^/issues/comments/${n}$`), (c) => this.deleteComment(c)],
      ['POST', new RegExp(`^/issues/comments/${n}/reactions$`), (c) => this.createReaction(c)],
      ['GET', new RegExp(`^/issues/${n}/events$`), (c) => this.listEvents(c)],
      ['GET', new RegExp(`^/issues/${n}/labels$`), (c) => this.listLabels(c)],
      ['GET', new RegExp(`^/issues/${n}/sub_issues$`), (c) => this.listSubIssues(c)],
      ['POST', new RegExp(`^/issues/${n}/labels$`), (c) => this.addLabels(c)],
      ['DELETE', new RegExp(`^/issues/${n}/labels/${seg}$`), (c) => this.removeLabel(c)],
      ['GET', /^\/pulls$/, (c) => this.listPulls(c)],
      ['POST', /^\/pulls$/, (c) => this.createPull(c)],
      ['GET', new RegExp(`^/pulls/${n}$`), (c) => this.getPull(c)],
      ['PATCH', new RegExp(`^/pulls/${n}$`), (c) => this.updatePull(c)]
    ]
  }

  static async start(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
    const fake = new FakeGitHub(opts)
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject)
      fake.server.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = fake.server.address() as AddressInfo
    fake.baseUrl = `http://127.0.0.1:${port}`
    FakeGitHub.live.add(fake)
    return fake
  }

  /** The violations recorded so far, removed from `violations` (for tests that expect some). */
  takeViolations(): string[] {
    return this.violations.splice(0)
  }

  /**
   * Throws, listing them, if any stand-in started in this test file recorded violations since
   * the last call; forgets stand-ins that have stopped. Called after each test (jest-setup.ts).
   */
  static assertConformance(): void {
    const found: string[] = []
    for (const fake of FakeGitHub.live) {
      found.push(...fake.takeViolations())
      if (fake.stopped) FakeGitHub.live.delete(fake)
    }
    if (found.length === 0) return
    const counts = new Map<string, number>()
    for (const v of found) counts.set(v, (counts.get(v) ?? 0) + 1)
    const lines = [...counts].map(([v, n]) => (n > 1 ? `${v} (${n} times)` : v))
    throw new Error(
      `The GitHub API stand-in saw ${found.length} request(s) or answer(s) that GitHub's API description does not allow:\n- ${lines.join('\n- ')}`
    )
  }

  /** Base URL for GITHUB_API_URL / Octokit's baseUrl, e.g. http://127.0.0.1:41234 (no slash). */
  get url(): string {
    return this.baseUrl
  }

  get fullName(): string {
    return `${this.owner}/${this.repo}`
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  // ---- test-facing helpers ---------------------------------------------------------------

  /**
   * Stores an issue (replacing one with the same number), filling in GitHub's defaults. Give
   * `pull_request: {}` for the issue side of a pull request (its links are filled in).
   */
  addIssue(issue: FakeIssue): FakeIssue {
    const now = githubTimestamp()
    const stored: FakeIssue = {
      ...issue,
      state: issue.state ?? 'open',
      user: { login: issue.user?.login ?? 'maintainer', type: issue.user?.type ?? 'User' },
      labels: [...(issue.labels ?? [])],
      created_at: issue.created_at ?? now,
      updated_at: issue.updated_at ?? issue.created_at ?? now
    }
    if (issue.pull_request) {
      stored.pull_request = { ...this.pullLinks(issue.number), ...issue.pull_request }
    }
    this.issues.set(stored.number, stored)
    return stored
  }

  /** Adds a comment as if `user` wrote it on the web (no validation, not recorded). */
  addComment(
    issueNumber: number,
    body: string,
    user: { login: string; type?: string } = { login: 'maintainer' }
  ): FakeComment {
    const now = githubTimestamp()
    const id = this.allocateCommentId()
    const comment: FakeComment = {
      id,
      issue_number: issueNumber,
      body,
      user: { login: user.login, type: user.type ?? 'User' },
      created_at: now,
      updated_at: now,
      html_url: `${this.htmlBase()}/issues/${issueNumber}#issuecomment-${id}`
    }
    this.comments.push(comment)
    return comment
  }

  /** Makes issue `child` (stored with addIssue) the last sub-issue of `parent`. */
  addSubIssue(parent: number, child: number): void {
    this.requireIssue(parent)
    this.requireIssue(child)
    this.subIssues.set(parent, [...(this.subIssues.get(parent) ?? []), child])
  }

  /** 'maintain' is served as permission 'write' and 'triage' as 'read', with role_name kept. */
  setPermission(login: string, permission: RoleName): void {
    const legacy: Permission =
      permission === 'maintain' ? 'write' : permission === 'triage' ? 'read' : permission
    this.permissions.set(login, legacy)
    this.roleNames.set(login, permission)
  }

  /** The next requests matching method (or '*') and path get these responses, in order. */
  failNext(method: string, pathPattern: RegExp, responses: FaultResponse[]): void {
    if (responses.length === 0) return
    this.faults.push({
      method: method.toUpperCase(),
      pattern: pathPattern,
      responses: [...responses]
    })
  }

  /**
   * The next request matching method (or '*') and path is recorded, then left unanswered until
   * release(); `reached` resolves when it arrives. A test can look at the client while it is
   * known to be waiting, without timing.
   */
  holdNext(method: string, pathPattern: RegExp): { reached: Promise<void>; release(): void } {
    let reached = (): void => undefined
    let release = (): void => undefined
    const arrived = new Promise<void>((resolve) => (reached = resolve))
    const released = new Promise<void>((resolve) => (release = resolve))
    this.holds.push({ method: method.toUpperCase(), pattern: pathPattern, reached, released })
    return { reached: arrived, release }
  }

  requestsMatching(method: string, pathPattern: RegExp): RecordedRequest[] {
    const wanted = method.toUpperCase()
    return this.requests.filter(
      (r) => (wanted === '*' || r.method === wanted) && testPattern(pathPattern, r.path)
    )
  }

  // ---- HTTP plumbing -------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let reply: Reply
    const seen: Partial<RecordedRequest> = {}
    try {
      reply = await this.dispatch(req, seen)
    } catch (error) {
      reply =
        error instanceof HttpError
          ? { status: error.status, body: { ...error.body, status: String(error.status) } }
          : { status: 500, body: { message: `fake-github internal error: ${String(error)}` } }
    }
    if (seen.method && seen.path) this.checkAnswer(seen.method, seen.path, reply)
    const headers: Record<string, string> = {
      'x-github-media-type': 'github.v3; format=json',
      'x-github-request-id': `FAKE:${this.requests.length}`,
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(Math.max(0, 5000 - this.requests.length)),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-used': String(this.requests.length),
      'x-ratelimit-resource': 'core',
      ...lowerKeys(reply.headers ?? {})
    }
    let payload = ''
    if (reply.status !== 204 && reply.status !== 304 && reply.body !== undefined) {
      payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body)
      headers['content-type'] ??= 'application/json; charset=utf-8'
    }
    headers['content-length'] = String(Buffer.byteLength(payload))
    res.writeHead(reply.status, headers)
    res.end(payload)
  }

  /** Records what GitHub's description says is wrong with a request (REST or GraphQL). */
  private checkRequest(request: RecordedRequest): void {
    if (!this.conformance) return
    const problems =
      request.path === '/graphql'
        ? graphqlRequestProblems(request.method, request.body)
        : GitHubOpenApi.load().checkRequest(
            request.method,
            request.path,
            request.query,
            request.body
          )
    this.violations.push(...problems.map((p) => `request ${p}`))
  }

  /** Records what GitHub's description says is wrong with an answer the stand-in gives. */
  private checkAnswer(method: string, path: string, reply: Reply): void {
    if (!this.conformance || path === '/graphql') return
    let body = reply.body
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body)
      } catch {
        // Not JSON: checked as the string it is.
      }
    }
    const problems = GitHubOpenApi.load().checkResponse(method, path, reply.status, body)
    this.violations.push(...problems.map((p) => `answer to ${p}`))
  }

  private async dispatch(
    req: http.IncomingMessage,
    seen: Partial<RecordedRequest>
  ): Promise<Reply> {
    const raw = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const method = (req.method ?? 'GET').toUpperCase()
    const query: Record<string, string> = {}
    url.searchParams.forEach((value, key) => {
      query[key] = value
    })
    let body: unknown = undefined
    let badJson = false
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw)
      } catch {
        body = raw
        badJson = true
      }
    }
    const headers: Record<string, string | string[] | undefined> = {}
    for (const [key, value] of Object.entries(req.headers)) headers[key.toLowerCase()] = value
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const request: RecordedRequest = { method, path, query, headers, body, at: Date.now() }
    this.requests.push(request)
    Object.assign(seen, request)
    if (!badJson) this.checkRequest(request)

    const holdIndex = this.holds.findIndex(
      (h) => (h.method === '*' || h.method === method) && testPattern(h.pattern, path)
    )
    if (holdIndex >= 0) {
      const [hold] = this.holds.splice(holdIndex, 1)
      hold.reached()
      await hold.released
    }

    const fault = this.takeFault(method, path)
    if (fault) {
      return {
        status: fault.status,
        body: fault.body ?? {
          message: http.STATUS_CODES[fault.status] ?? 'Error',
          documentation_url: DOCS,
          status: String(fault.status)
        },
        headers: fault.headers
      }
    }

    const auth = String(headers.authorization ?? '')
    const match = /^(?:token|bearer)\s+(\S+)$/i.exec(auth.trim())
    if (!match || (match[1] !== this.token && !this.extraTokens.includes(match[1]))) {
      throw new HttpError(401, { message: 'Bad credentials', documentation_url: DOCS })
    }
    if (badJson && method !== 'GET') {
      throw new HttpError(400, { message: 'Problems parsing JSON', documentation_url: DOCS })
    }

    if (path === '/graphql' && method === 'POST') return this.graphql(body)

    const repoMatch = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path)
    if (
      !repoMatch ||
      decodeURIComponent(repoMatch[1]).toLowerCase() !== this.owner.toLowerCase() ||
      decodeURIComponent(repoMatch[2]).toLowerCase() !== this.repo.toLowerCase()
    ) {
      throw notFound()
    }
    const rest = repoMatch[3] ?? ''
    for (const [routeMethod, pattern, handler] of this.routes) {
      if (routeMethod !== method) continue
      const m = pattern.exec(rest)
      if (!m) continue
      const params = m.slice(1).map((p) => decodeURIComponent(p))
      return handler({ method, path, query, body, params })
    }
    throw notFound()
  }

  private takeFault(method: string, path: string): FaultResponse | undefined {
    const index = this.faults.findIndex(
      (f) => (f.method === '*' || f.method === method) && testPattern(f.pattern, path)
    )
    if (index < 0) return undefined
    const fault = this.faults[index]
    const response = fault.responses.shift()
    if (fault.responses.length === 0) this.faults.splice(index, 1)
    return response
  }

  private page<T>(items: T[], ctx: Ctx): Reply {
    const perPage = Math.min(100, Math.max(1, Number.parseInt(ctx.query.per_page ?? '', 10) || 30))
    const page = Math.max(1, Number.parseInt(ctx.query.page ?? '', 10) || 1)
    const last = Math.max(1, Math.ceil(items.length / perPage))
    const link = (p: number, rel: string): string => {
      const params = new URLSearchParams(ctx.query)
      params.set('per_page', String(perPage))
      params.set('page', String(p))
      return `<${this.baseUrl}${ctx.path}?${params.toString()}>; rel="${rel}"`
    }
    const links: string[] = []
    if (page > 1) links.push(link(Math.min(page - 1, last), 'prev'))
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'))
    if (page > 1) links.push(link(1, 'first'))
    const slice = items.slice((page - 1) * perPage, page * perPage)
    return { status: 200, body: slice, headers: links.length ? { link: links.join(', ') } : {} }
  }

  // ---- JSON shapes -------------------------------------------------------------------------
  // Each carries every field GitHub's description marks as required (checked on every answer).

  private htmlBase(): string {
    return `https://github.com/${this.owner}/${this.repo}`
  }

  private apiRepo(): string {
    return `${this.baseUrl}/repos/${this.owner}/${this.repo}`
  }

  private userJson(user: { login: string; type?: string }): Record<string, unknown> {
    const id = userId(user.login)
    const api = `${this.baseUrl}/users/${encodeURIComponent(user.login)}`
    return {
      login: user.login,
      id,
      node_id: `U_fake${id}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
      gravatar_id: '',
      url: api,
      // A bot's page is its app's: github-actions[bot] → https://github.com/apps/github-actions
      html_url:
        user.type === 'Bot'
          ? `https://github.com/apps/${encodeURIComponent(user.login.replace(/\[bot\]$/, ''))}`
          : `https://github.com/${encodeURIComponent(user.login)}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: user.type ?? 'User',
      user_view_type: 'public',
      site_admin: false
    }
  }

  private association(login: string): string {
    if (login.toLowerCase() === this.owner.toLowerCase()) return 'OWNER'
    const permission = this.lookupPermission(login)
    return permission === 'admin' || permission === 'write' ? 'COLLABORATOR' : 'NONE'
  }

  private lookupPermission(login: string): Permission {
    const exact = this.permissions.get(login)
    if (exact) return exact
    for (const [key, value] of this.permissions) {
      if (key.toLowerCase() === login.toLowerCase()) return value
    }
    return 'none'
  }

  private lookupRole(login: string): RoleName {
    for (const [key, value] of this.roleNames) {
      if (key.toLowerCase() === login.toLowerCase()) return value
    }
    return this.lookupPermission(login)
  }

  /** The `repository` shape (pull request heads and bases); repos.get adds the full fields. */
  private repoJson(): Record<string, unknown> {
    const api = this.apiRepo()
    const created = '2020-01-01T00:00:00Z'
    const openIssues = [...this.issues.values()].filter((i) => i.state !== 'closed').length
    return {
      id: FAKE_REPOSITORY_ID,
      node_id: 'R_fakeRepo',
      name: this.repo,
      full_name: this.fullName,
      owner: this.userJson({ login: this.owner, type: 'Organization' }),
      private: false,
      visibility: 'public',
      html_url: this.htmlBase(),
      description: null,
      fork: false,
      url: api,
      archive_url: `${api}/{archive_format}{/ref}`,
      assignees_url: `${api}/assignees{/user}`,
      blobs_url: `${api}/git/blobs{/sha}`,
      branches_url: `${api}/branches{/branch}`,
      collaborators_url: `${api}/collaborators{/collaborator}`,
      comments_url: `${api}/comments{/number}`,
      commits_url: `${api}/commits{/sha}`,
      compare_url: `${api}/compare/{base}...{head}`,
      contents_url: `${api}/contents/{+path}`,
      contributors_url: `${api}/contributors`,
      deployments_url: `${api}/deployments`,
      downloads_url: `${api}/downloads`,
      events_url: `${api}/events`,
      forks_url: `${api}/forks`,
      git_commits_url: `${api}/git/commits{/sha}`,
      git_refs_url: `${api}/git/refs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`,
      git_url: `git://github.com/${this.fullName}.git`,
      hooks_url: `${api}/hooks`,
      issue_comment_url: `${api}/issues/comments{/number}`,
      issue_events_url: `${api}/issues/events{/number}`,
      issues_url: `${api}/issues{/number}`,
      keys_url: `${api}/keys{/key_id}`,
      labels_url: `${api}/labels{/name}`,
      languages_url: `${api}/languages`,
      merges_url: `${api}/merges`,
      milestones_url: `${api}/milestones{/number}`,
      notifications_url: `${api}/notifications{?since,all,participating}`,
      pulls_url: `${api}/pulls{/number}`,
      releases_url: `${api}/releases{/id}`,
      ssh_url: `git@github.com:${this.fullName}.git`,
      stargazers_url: `${api}/stargazers`,
      statuses_url: `${api}/statuses/{sha}`,
      subscribers_url: `${api}/subscribers`,
      subscription_url: `${api}/subscription`,
      tags_url: `${api}/tags`,
      teams_url: `${api}/teams`,
      trees_url: `${api}/git/trees{/sha}`,
      clone_url: `${this.htmlBase()}.git`,
      mirror_url: null,
      svn_url: this.htmlBase(),
      homepage: null,
      language: null,
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      size: 0,
      default_branch: this.defaultBranch,
      open_issues: openIssues,
      open_issues_count: openIssues,
      is_template: false,
      topics: [],
      has_issues: true,
      has_projects: true,
      has_wiki: true,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      license: null,
      pushed_at: created,
      created_at: created,
      updated_at: created,
      allow_forking: true,
      web_commit_signoff_required: false
    }
  }

  /** repos.get: the `full-repository` shape, as the action's token sees it. */
  private fullRepoJson(): Record<string, unknown> {
    return {
      ...this.repoJson(),
      network_count: 0,
      subscribers_count: 0,
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
      allow_rebase_merge: true,
      allow_squash_merge: true,
      allow_merge_commit: true,
      allow_auto_merge: false,
      delete_branch_on_merge: false,
      allow_update_branch: false,
      use_squash_pr_title_as_default: false,
      squash_merge_commit_title: 'COMMIT_OR_PR_TITLE',
      squash_merge_commit_message: 'COMMIT_MESSAGES',
      merge_commit_title: 'MERGE_MESSAGE',
      merge_commit_message: 'PR_TITLE'
    }
  }

  private labelJson(name: string): Record<string, unknown> {
    return {
      id: userId(`label:${name}`),
      node_id: `LA_fake_${encodeURIComponent(name)}`,
      url: `${this.apiRepo()}/labels/${encodeURIComponent(name)}`,
      name,
      color: 'ededed',
      default: false,
      description: null
    }
  }

  /** An issue's `pull_request` field: where the pull request it is lives. */
  private pullLinks(n: number): Record<string, unknown> {
    const html = `${this.htmlBase()}/pull/${n}`
    return {
      url: `${this.apiRepo()}/pulls/${n}`,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      merged_at: null
    }
  }

  /** GitHub stores an empty issue or pull request description as none: `body: null`. */
  private static bodyJson(body: string | null): string | null {
    return body === '' ? null : body
  }

  private issueJson(issue: FakeIssue): Record<string, unknown> {
    const n = issue.number
    const user = issue.user ?? { login: 'maintainer', type: 'User' }
    const state = issue.state ?? 'open'
    const updated = issue.updated_at ?? issue.created_at ?? githubTimestamp()
    const api = `${this.apiRepo()}/issues/${n}`
    const labels = issue.labels ?? []
    const json: Record<string, unknown> = {
      url: api,
      repository_url: this.apiRepo(),
      labels_url: `${api}/labels{/name}`,
      comments_url: `${api}/comments`,
      events_url: `${api}/events`,
      timeline_url: `${api}/timeline`,
      html_url: `${this.htmlBase()}/${issue.pull_request ? 'pull' : 'issues'}/${n}`,
      id: 2000000000 + n,
      node_id: `I_fake${n}`,
      number: n,
      title: issue.title,
      user: this.userJson(user),
      labels: issue.labelsAsStrings ? [...labels] : labels.map((name) => this.labelJson(name)),
      state,
      state_reason: state === 'closed' ? 'completed' : null,
      locked: false,
      active_lock_reason: null,
      assignee: null,
      assignees: [],
      milestone: null,
      comments: this.comments.filter((c) => c.issue_number === n).length,
      created_at: issue.created_at ?? updated,
      updated_at: updated,
      closed_at: state === 'closed' ? updated : null,
      closed_by: null,
      author_association: this.association(user.login),
      performed_via_github_app: null,
      body: FakeGitHub.bodyJson(issue.body)
    }
    if (issue.pull_request) json.pull_request = issue.pull_request
    return json
  }

  private commentJson(comment: FakeComment): Record<string, unknown> {
    return {
      id: comment.id,
      node_id: `IC_fake${comment.id}`,
      url: `${this.apiRepo()}/issues/comments/${comment.id}`,
      html_url: comment.html_url,
      issue_url: `${this.apiRepo()}/issues/${comment.issue_number}`,
      body: comment.body,
      user: this.userJson(comment.user),
      created_at: comment.created_at,
      updated_at: comment.updated_at,
      author_association: this.association(comment.user.login),
      performed_via_github_app: null
    }
  }

  private async refSha(ref: string): Promise<string | undefined> {
    if (!this.originDir) return undefined
    const result = await gitOutput(this.originDir, ['rev-parse', '--verify', '--quiet', ref])
    return result.ok && result.stdout ? result.stdout : undefined
  }

  /** Commits and changed lines between base and head, from the origin when there is one. */
  private async pullStats(pull: FakePull): Promise<Record<string, number>> {
    const stats = { commits: 0, additions: 0, deletions: 0, changed_files: 0 }
    if (!this.originDir) return stats
    const range = `refs/heads/${pull.base}...refs/heads/${pull.head}`
    const [count, numstat] = await Promise.all([
      gitOutput(this.originDir, ['rev-list', '--count', range.replace('...', '..')]),
      gitOutput(this.originDir, ['diff', '--numstat', range])
    ])
    if (count.ok) stats.commits = Number(count.stdout) || 0
    if (numstat.ok) {
      for (const line of numstat.stdout.split('\n').filter(Boolean)) {
        const [added, deleted] = line.split('\t')
        stats.changed_files++
        stats.additions += Number(added) || 0
        stats.deletions += Number(deleted) || 0
      }
    }
    return stats
  }

  /** pulls.list items (`pull-request-simple`); `full` adds the fields of pulls.get/create. */
  private async pullJson(pull: FakePull, full = true): Promise<Record<string, unknown>> {
    const zero = '0'.repeat(40)
    const headSha = (await this.refSha(`refs/heads/${pull.head}`)) ?? zero
    const baseSha = (await this.refSha(`refs/heads/${pull.base}`)) ?? zero
    const user = pull.user ?? { login: this.botLogin, type: 'Bot' }
    const updated = pull.updated_at ?? pull.created_at ?? githubTimestamp()
    const api = `${this.apiRepo()}/pulls/${pull.number}`
    const issue = `${this.apiRepo()}/issues/${pull.number}`
    const side = (ref: string, sha: string): Record<string, unknown> => ({
      label: `${this.owner}:${ref}`,
      ref,
      sha,
      user: this.userJson({ login: this.owner, type: 'Organization' }),
      repo: this.repoJson()
    })
    const link = (href: string): { href: string } => ({ href })
    const json: Record<string, unknown> = {
      url: api,
      id: 4000000000 + pull.number,
      node_id: `PR_fake${pull.number}`,
      html_url: pull.html_url,
      diff_url: `${pull.html_url}.diff`,
      patch_url: `${pull.html_url}.patch`,
      issue_url: issue,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: `${this.apiRepo()}/pulls/comments{/number}`,
      comments_url: `${issue}/comments`,
      statuses_url: `${this.apiRepo()}/statuses/${headSha}`,
      number: pull.number,
      state: pull.state,
      locked: false,
      active_lock_reason: null,
      title: pull.title,
      user: this.userJson(user),
      body: FakeGitHub.bodyJson(pull.body),
      labels: (this.issues.get(pull.number)?.labels ?? []).map((name) => this.labelJson(name)),
      milestone: null,
      created_at: pull.created_at ?? updated,
      updated_at: updated,
      closed_at: pull.state === 'closed' ? updated : null,
      merged_at: null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      draft: pull.draft,
      head: side(pull.head, headSha),
      base: side(pull.base, baseSha),
      _links: {
        self: link(api),
        html: link(pull.html_url),
        issue: link(issue),
        comments: link(`${issue}/comments`),
        review_comments: link(`${api}/comments`),
        review_comment: link(`${this.apiRepo()}/pulls/comments{/number}`),
        commits: link(`${api}/commits`),
        statuses: link(`${this.apiRepo()}/statuses/${headSha}`)
      },
      author_association: this.association(user.login),
      auto_merge: null
    }
    if (!full) return json
    return {
      ...json,
      merged: false,
      mergeable: null,
      rebaseable: null,
      mergeable_state: 'unknown',
      merged_by: null,
      comments: this.comments.filter((c) => c.issue_number === pull.number).length,
      review_comments: 0,
      maintainer_can_modify: false,
      ...(await this.pullStats(pull))
    }
  }

  // ---- handlers ------------------------------------------------------------------------------

  private getRepo(): Reply {
    return { status: 200, body: this.fullRepoJson() }
  }

  private requireIssue(n: number): FakeIssue {
    const issue = this.issues.get(n)
    if (!issue) throw notFound()
    return issue
  }

  private listIssues(ctx: Ctx): Reply {
    const state = ctx.query.state ?? 'open'
    const wanted = (ctx.query.labels ?? '')
      .split(',')
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean)
    const sort = ctx.query.sort ?? 'created'
    const direction = ctx.query.direction ?? 'desc'
    let items = [...this.issues.values()].filter((issue) => {
      if (state !== 'all' && (issue.state ?? 'open') !== state) return false
      const have = (issue.labels ?? []).map((l) => l.toLowerCase())
      if (!wanted.every((l) => have.includes(l))) return false
      if (ctx.query.creator && issue.user?.login.toLowerCase() !== ctx.query.creator.toLowerCase())
        return false
      if (ctx.query.since && (issue.updated_at ?? '') < ctx.query.since) return false
      return true
    })
    const key = (issue: FakeIssue): string | number =>
      sort === 'updated'
        ? (issue.updated_at ?? '')
        : sort === 'comments'
          ? this.comments.filter((c) => c.issue_number === issue.number).length
          : (issue.created_at ?? '')
    items = items.sort((a, b) => {
      const ka = key(a)
      const kb = key(b)
      const cmp = ka < kb ? -1 : ka > kb ? 1 : a.number - b.number
      return direction === 'asc' ? cmp : -cmp
    })
    const reply = this.page(items, ctx)
    return { ...reply, body: (reply.body as FakeIssue[]).map((i) => this.issueJson(i)) }
  }

  private getIssue(ctx: Ctx): Reply {
    return { status: 200, body: this.issueJson(this.requireIssue(Number(ctx.params[0]))) }
  }

  /**
   * The one GraphQL question agent-fanout asks: when was an issue's body last edited. Answered
   * as GitHub answers, errors included: HTTP 200 with `errors` next to the partial `data`, and
   * NOT_FOUND for a repository or issue that does not exist (a pull request is not an issue).
   */
  private graphql(body: unknown): Reply {
    const { query, variables = {} } = asObject(body) as {
      query?: string
      variables?: Record<string, unknown>
    }
    const invalid = typeof query === 'string' ? variableErrors(query, variables) : []
    if (invalid.length > 0) return { status: 200, body: { errors: invalid } }
    const shape =
      /repository\(owner:\s*\$owner,\s*name:\s*\$repo\)\s*\{\s*issue\(number:\s*\$number\)\s*\{\s*lastEditedAt\s*\}\s*\}/
    if (typeof query !== 'string' || !shape.test(query)) {
      this.violations.push(`request POST /graphql: fake-github does not know this query: ${query}`)
      return {
        status: 200,
        body: { errors: [{ message: 'fake-github: unsupported GraphQL query' }] }
      }
    }
    const where = (field: string): { line: number; column: number }[] => {
      const before = query.slice(0, query.indexOf(field))
      const lines = before.split('\n')
      return [{ line: lines.length, column: lines[lines.length - 1].length + 1 }]
    }
    const owner = String(variables.owner)
    const name = String(variables.repo)
    if (
      owner.toLowerCase() !== this.owner.toLowerCase() ||
      name.toLowerCase() !== this.repo.toLowerCase()
    ) {
      return {
        status: 200,
        body: {
          data: { repository: null },
          errors: [
            {
              type: 'NOT_FOUND',
              path: ['repository'],
              locations: where('repository('),
              message: `Could not resolve to a Repository with the name '${owner}/${name}'.`
            }
          ]
        }
      }
    }
    const number = Number(variables.number)
    const issue = this.issues.get(number)
    if (!issue || issue.pull_request) {
      return {
        status: 200,
        body: {
          data: { repository: { issue: null } },
          errors: [
            {
              type: 'NOT_FOUND',
              path: ['repository', 'issue'],
              locations: where('issue('),
              message: `Could not resolve to an Issue with the number of ${number}.`
            }
          ]
        }
      }
    }
    return {
      status: 200,
      body: { data: { repository: { issue: { lastEditedAt: issue.last_edited_at ?? null } } } }
    }
  }

  /** Edits an issue's body as its author would (bumps updated_at and lastEditedAt). */
  editIssueBody(issueNumber: number, body: string): void {
    const issue = this.requireIssue(issueNumber)
    issue.body = body
    issue.updated_at = issue.last_edited_at = githubTimestamp()
  }

  private updateIssue(ctx: Ctx): Reply {
    const issue = this.requireIssue(Number(ctx.params[0]))
    const body = asObject(ctx.body)
    if (typeof body.title === 'string') issue.title = body.title
    if (typeof body.body === 'string' || body.body === null) {
      issue.body = body.body as string | null
      issue.last_edited_at = githubTimestamp()
    }
    if (body.state === 'open' || body.state === 'closed') issue.state = body.state
    if (Array.isArray(body.labels)) issue.labels = labelNames(body.labels)
    issue.updated_at = githubTimestamp()
    const pull = this.pulls.find((p) => p.number === issue.number)
    if (pull) {
      pull.title = issue.title
      pull.body = issue.body ?? ''
      pull.state = issue.state ?? pull.state
      pull.updated_at = issue.updated_at
    }
    return { status: 200, body: this.issueJson(issue) }
  }

  private getPermission(ctx: Ctx): Reply {
    const login = ctx.params[0]
    return {
      status: 200,
      body: {
        permission: this.lookupPermission(login),
        role_name: this.lookupRole(login),
        user: { ...this.userJson({ login }), role_name: this.lookupRole(login) }
      }
    }
  }

  private listComments(ctx: Ctx): Reply {
    const n = Number(ctx.params[0])
    this.requireIssue(n)
    const since = ctx.query.since
    const items = this.comments.filter(
      (c) => c.issue_number === n && (!since || c.updated_at >= since)
    )
    const reply = this.page(items, ctx)
    return { ...reply, body: (reply.body as FakeComment[]).map((c) => this.commentJson(c)) }
  }

  private validCommentBody(body: unknown): string {
    const value = asObject(body).body
    if (typeof value !== 'string') {
      throw validationFailed({ resource: 'IssueComment', code: 'missing_field', field: 'body' })
    }
    if (Array.from(value).length > MAX_COMMENT_LENGTH) {
      throw validationFailed({
        resource: 'IssueComment',
        code: 'custom',
        field: 'body',
        message: `body is too long (maximum is ${MAX_COMMENT_LENGTH} characters)`
      })
    }
    return value
  }

  private allocateCommentId(): number {
    const max = this.comments.reduce((m, c) => Math.max(m, c.id), 0)
    const id = Math.max(this.nextCommentId, max + 1)
    this.nextCommentId = id + 1
    return id
  }

  private createComment(ctx: Ctx): Reply {
    const n = Number(ctx.params[0])
    const issue = this.requireIssue(n)
    const text = this.validCommentBody(ctx.body)
    const comment = this.addComment(n, text, { login: this.botLogin, type: 'Bot' })
    issue.updated_at = comment.created_at
    return {
      status: 201,
      body: this.commentJson(comment),
      headers: { location: `${this.apiRepo()}/issues/comments/${comment.id}` }
    }
  }

  private requireComment(id: number): FakeComment {
    const comment = this.comments.find((c) => c.id === id)
    if (!comment) throw notFound()
    return comment
  }

  private getComment(ctx: Ctx): Reply {
    return { status: 200, body: this.commentJson(this.requireComment(Number(ctx.params[0]))) }
  }

  private updateComment(ctx: Ctx): Reply {
    const comment = this.requireComment(Number(ctx.params[0]))
    comment.body = this.validCommentBody(ctx.body)
    comment.updated_at = githubTimestamp()
    return { status: 200, body: this.commentJson(comment) }
  }

  private deleteComment(ctx: Ctx): Reply {
    const comment = this.requireComment(Number(ctx.params[0]))
    this.comments.splice(this.comments.indexOf(comment), 1)
    return { status: 204 }
  }

  private createReaction(ctx: Ctx): Reply {
    const comment = this.requireComment(Number(ctx.params[0]))
    const content = asObject(ctx.body).content
    if (typeof content !== 'string' || !REACTIONS.has(content)) {
      throw validationFailed({ resource: 'Reaction', code: 'invalid', field: 'content' })
    }
    const exists = this.reactions.some((r) => r.commentId === comment.id && r.content === content)
    if (!exists) this.reactions.push({ commentId: comment.id, content })
    return {
      status: exists ? 200 : 201,
      body: {
        id: this.nextReactionId++,
        node_id: 'REA_fake',
        user: this.userJson({ login: this.botLogin, type: 'Bot' }),
        content,
        created_at: githubTimestamp()
      }
    }
  }

  private listEvents(ctx: Ctx): Reply {
    const n = Number(ctx.params[0])
    this.requireIssue(n)
    const events = this.issueEvents.get(n) ?? []
    const reply = this.page(
      events.map((event, index) => ({ event, index })),
      ctx
    )
    const body = (reply.body as { event: FakeIssueEvent; index: number }[]).map(
      ({ event, index }) => this.eventJson(event, 5000000000 + n * 1000 + index)
    )
    return { ...reply, body }
  }

  /** One issue event in the documented shape of its kind. */
  private eventJson(event: FakeIssueEvent, id: number): Record<string, unknown> {
    const commit = event.commit_id ?? null
    const json: Record<string, unknown> = {
      id,
      node_id: `IE_fake${id}`,
      url: `${this.apiRepo()}/issues/events/${id}`,
      actor: this.userJson(event.actor),
      event: event.event,
      commit_id: commit,
      commit_url: commit && `${this.apiRepo()}/commits/${commit}`,
      created_at: event.created_at,
      performed_via_github_app: null
    }
    if (event.label) json.label = { name: event.label.name, color: 'ededed' }
    if (event.rename) json.rename = { ...event.rename }
    if (event.assignee) {
      json.assignee = this.userJson(event.assignee)
      json.assigner = this.userJson(event.actor)
    }
    if (event.milestone) json.milestone = { title: event.milestone.title }
    return json
  }

  private recordEvent(n: number, event: string, label?: string): void {
    const list = this.issueEvents.get(n) ?? []
    list.push({
      event,
      actor: { login: this.botLogin, type: 'Bot' },
      ...(label === undefined ? {} : { label: { name: label } }),
      created_at: githubTimestamp()
    })
    this.issueEvents.set(n, list)
  }

  /** Sub-issues in the parent's order, open and closed, paginated like every list. */
  private listSubIssues(ctx: Ctx): Reply {
    const n = Number(ctx.params[0])
    this.requireIssue(n)
    const subs = (this.subIssues.get(n) ?? []).map((child) => this.requireIssue(child))
    const reply = this.page(subs, ctx)
    return { ...reply, body: (reply.body as FakeIssue[]).map((i) => this.issueJson(i)) }
  }

  private listLabels(ctx: Ctx): Reply {
    const issue = this.requireIssue(Number(ctx.params[0]))
    const reply = this.page(issue.labels ?? [], ctx)
    return { ...reply, body: (reply.body as string[]).map((name) => this.labelJson(name)) }
  }

  private addLabels(ctx: Ctx): Reply {
    const issue = this.requireIssue(Number(ctx.params[0]))
    const raw = Array.isArray(ctx.body) ? ctx.body : asObject(ctx.body).labels
    if (!Array.isArray(raw)) {
      throw validationFailed({ resource: 'Label', code: 'missing_field', field: 'labels' })
    }
    issue.labels ??= []
    for (const name of labelNames(raw)) {
      if (issue.labels.some((l) => l.toLowerCase() === name.toLowerCase())) continue
      issue.labels.push(name)
      this.recordEvent(issue.number, 'labeled', name)
    }
    issue.updated_at = githubTimestamp()
    return { status: 200, body: issue.labels.map((name) => this.labelJson(name)) }
  }

  private removeLabel(ctx: Ctx): Reply {
    const issue = this.requireIssue(Number(ctx.params[0]))
    const name = ctx.params[1]
    const labels = issue.labels ?? []
    const index = labels.findIndex((l) => l.toLowerCase() === name.toLowerCase())
    if (index < 0) {
      throw new HttpError(404, { message: 'Label does not exist', documentation_url: DOCS })
    }
    const [removed] = labels.splice(index, 1)
    issue.labels = labels
    issue.updated_at = githubTimestamp()
    this.recordEvent(issue.number, 'unlabeled', removed)
    return { status: 200, body: labels.map((l) => this.labelJson(l)) }
  }

  private async listPulls(ctx: Ctx): Promise<Reply> {
    const state = ctx.query.state ?? 'open'
    let headOwner: string | undefined
    let headRef: string | undefined
    // Like GitHub, `head` filters only in the `owner:branch` form; a bare branch name is ignored.
    if (ctx.query.head?.includes(':')) {
      const colon = ctx.query.head.indexOf(':')
      headOwner = ctx.query.head.slice(0, colon).toLowerCase()
      headRef = ctx.query.head.slice(colon + 1)
    }
    const items = this.pulls
      .filter((p) => {
        if (state !== 'all' && p.state !== state) return false
        if (headRef !== undefined && (headOwner !== this.owner.toLowerCase() || p.head !== headRef))
          return false
        if (ctx.query.base && p.base !== ctx.query.base) return false
        return true
      })
      .sort((a, b) =>
        (ctx.query.direction ?? 'desc') === 'asc' ? a.number - b.number : b.number - a.number
      )
    const reply = this.page(items, ctx)
    const body = await Promise.all((reply.body as FakePull[]).map((p) => this.pullJson(p, false)))
    return { ...reply, body }
  }

  private requirePull(n: number): FakePull {
    const pull = this.pulls.find((p) => p.number === n)
    if (!pull) throw notFound()
    return pull
  }

  private async getPull(ctx: Ctx): Promise<Reply> {
    return { status: 200, body: await this.pullJson(this.requirePull(Number(ctx.params[0]))) }
  }

  private stripOwner(head: string): string | undefined {
    const colon = head.indexOf(':')
    if (colon < 0) return head
    return head.slice(0, colon).toLowerCase() === this.owner.toLowerCase()
      ? head.slice(colon + 1)
      : undefined
  }

  private async checkBranch(field: 'head' | 'base', ref: string | undefined): Promise<void> {
    if (ref === undefined) {
      throw validationFailed({ resource: 'PullRequest', field, code: 'invalid' })
    }
    if (this.originDir && !(await this.refSha(`refs/heads/${ref}`))) {
      throw validationFailed({ resource: 'PullRequest', field, code: 'invalid' })
    }
  }

  private async createPull(ctx: Ctx): Promise<Reply> {
    const body = asObject(ctx.body)
    for (const field of ['title', 'head', 'base']) {
      if (typeof body[field] !== 'string' || body[field] === '') {
        throw validationFailed({ resource: 'PullRequest', field, code: 'missing_field' })
      }
    }
    const head = this.stripOwner(body.head as string)
    const base = body.base as string
    await this.checkBranch('head', head)
    await this.checkBranch('base', base)
    const headRef = head as string
    if (this.pulls.some((p) => p.state === 'open' && p.head === headRef && p.base === base)) {
      throw validationFailed({
        resource: 'PullRequest',
        code: 'custom',
        message: `A pull request already exists for ${this.owner}:${headRef}.`
      })
    }
    if (this.originDir) {
      const count = await gitOutput(this.originDir, [
        'rev-list',
        '--count',
        `refs/heads/${base}..refs/heads/${headRef}`
      ])
      if (count.ok && count.stdout === '0') {
        throw validationFailed({
          resource: 'PullRequest',
          code: 'custom',
          message: `No commits between ${base} and ${headRef}`
        })
      }
    }
    const number = Math.max(0, ...this.issues.keys(), ...this.pulls.map((p) => p.number)) + 1
    const now = githubTimestamp()
    const html = `${this.htmlBase()}/pull/${number}`
    const pull: FakePull = {
      number,
      title: body.title as string,
      body: typeof body.body === 'string' ? body.body : '',
      head: headRef,
      base,
      draft: body.draft === true,
      state: 'open',
      html_url: html,
      user: { login: this.botLogin, type: 'Bot' },
      created_at: now,
      updated_at: now
    }
    this.pulls.push(pull)
    this.issues.set(number, {
      number,
      title: pull.title,
      body: pull.body,
      state: 'open',
      user: pull.user,
      labels: [],
      created_at: now,
      updated_at: now,
      pull_request: this.pullLinks(number)
    })
    return {
      status: 201,
      body: await this.pullJson(pull),
      headers: { location: `${this.apiRepo()}/pulls/${number}` }
    }
  }

  private async updatePull(ctx: Ctx): Promise<Reply> {
    const pull = this.requirePull(Number(ctx.params[0]))
    const body = asObject(ctx.body)
    if (typeof body.base === 'string' && body.base !== pull.base) {
      await this.checkBranch('base', body.base)
      pull.base = body.base
    }
    if (body.state === 'open' && pull.state === 'closed') {
      const clash = this.pulls.some(
        (p) => p !== pull && p.state === 'open' && p.head === pull.head && p.base === pull.base
      )
      if (clash) {
        throw validationFailed({
          resource: 'PullRequest',
          code: 'custom',
          message: `A pull request already exists for ${this.owner}:${pull.head}.`
        })
      }
    }
    if (typeof body.title === 'string') pull.title = body.title
    if (typeof body.body === 'string') pull.body = body.body
    if (body.state === 'open' || body.state === 'closed') pull.state = body.state
    pull.updated_at = githubTimestamp()
    const issue = this.issues.get(pull.number)
    if (issue) {
      issue.title = pull.title
      issue.body = pull.body
      issue.state = pull.state
      issue.updated_at = pull.updated_at
    }
    return { status: 200, body: await this.pullJson(pull) }
  }
}

function testPattern(pattern: RegExp, value: string): boolean {
  pattern.lastIndex = 0
  return pattern.test(value)
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = value
  return out
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {}
}

function labelNames(raw: unknown[]): string[] {
  return raw
    .map((l) => (typeof l === 'string' ? l : asObject(l).name))
    .filter((l): l is string => typeof l === 'string' && l.length > 0)
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const GRAPHQL_SCALARS: Record<string, (v: unknown) => boolean> = {
  String: (v) => typeof v === 'string',
  ID: (v) => typeof v === 'string' || Number.isInteger(v),
  Int: (v) => Number.isInteger(v) && Math.abs(v as number) <= 2 ** 31 - 1,
  Float: (v) => typeof v === 'number' && Number.isFinite(v),
  Boolean: (v) => typeof v === 'boolean'
}

/** The variables a query declares: `$name: Type` (a `!` makes it required). */
function declaredVariables(query: string): Map<string, { type: string; required: boolean }> {
  const header = /^\s*(?:query|mutation)\b[^({]*\(([^)]*)\)/.exec(query)?.[1] ?? ''
  const declared = new Map<string, { type: string; required: boolean }>()
  for (const m of header.matchAll(/\$(\w+)\s*:\s*([\w[\]]+)(!?)/g)) {
    declared.set(m[1], { type: m[2], required: m[3] === '!' })
  }
  return declared
}

/**
 * GitHub's GraphQL endpoint takes a POST of `{query, variables?, operationName?}` in JSON; a
 * variable must be declared by the query, and each declared one given a value of its type.
 * Answered as GitHub does (HTTP 200, `errors`), so the action sees the same failure.
 */
function variableErrors(query: string, variables: Record<string, unknown>): object[] {
  const errors: object[] = []
  const declared = declaredVariables(query)
  for (const [name, { type, required }] of declared) {
    const value = variables[name]
    if (value === undefined || value === null) {
      if (required) {
        errors.push({
          extensions: {
            value: null,
            problems: [{ path: [], explanation: 'Expected value to not be null' }]
          },
          message: `Variable $${name} of type ${type}! was provided invalid value`
        })
      }
      continue
    }
    const check = GRAPHQL_SCALARS[type]
    if (check && !check(value)) {
      errors.push({
        extensions: {
          value,
          problems: [
            { path: [], explanation: `Could not coerce value ${JSON.stringify(value)} to ${type}` }
          ]
        },
        message: `Variable $${name} of type ${type}${required ? '!' : ''} was provided invalid value`
      })
    }
  }
  for (const used of new Set([...query.matchAll(/\$(\w+)/g)].map((m) => m[1]))) {
    if (!declared.has(used)) {
      errors.push({ message: `Variable $${used} is used by anonymous query but not declared` })
    }
  }
  return errors
}

/** What GitHub's GraphQL endpoint would refuse about a request, as violation messages. */
function graphqlRequestProblems(method: string, body: unknown): string[] {
  if (method !== 'POST') return [`${method} /graphql: GitHub's GraphQL API takes POST only`]
  const object = asObject(body)
  const problems: string[] = []
  const extra = Object.keys(object).filter(
    (k) => k !== 'query' && k !== 'variables' && k !== 'operationName'
  )
  if (typeof object.query !== 'string') problems.push('POST /graphql: no `query` string')
  const vars = object.variables
  if (vars !== undefined && (vars === null || typeof vars !== 'object' || Array.isArray(vars))) {
    problems.push('POST /graphql: `variables` is not an object')
  }
  if (extra.length > 0) problems.push(`POST /graphql: unknown keys ${extra.join(', ')}`)
  if (typeof object.query === 'string') {
    for (const e of variableErrors(object.query, asObject(object.variables))) {
      problems.push(`POST /graphql: ${(e as { message: string }).message}`)
    }
  }
  return problems
}
