// The GitHub API stand-in held to GitHub's published API description (@octokit/openapi): every
// route it serves answers in the documented shape, and what the description does not allow, on
// either side, is caught. Requests go through Octokit in-process; no dist/ needed.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { getOctokit } from '@actions/github'
import { FakeGitHub } from '../test-support/fake-github.js'
import { commitToOrigin, createOrigin, removeTempDirs } from '../test-support/git-fixtures.js'
import { GitHubOpenApi } from '../test-support/github-openapi.js'

const servers: FakeGitHub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

async function start(opts: Parameters<typeof FakeGitHub.start>[0] = {}) {
  const fake = await FakeGitHub.start(opts)
  servers.push(fake)
  const octokit = getOctokit(fake.token, { baseUrl: fake.url })
  return { fake, octokit, repo: { owner: fake.owner, repo: fake.repo } }
}

describe('the stand-in answers in the shapes GitHub documents', () => {
  it('serves every route it has, with null bodies, string labels, closed issues and pull requests', async () => {
    const origin = await createOrigin({ 'a.txt': 'a\n' })
    await commitToOrigin(origin, { 'b.txt': 'b\n' }, 'feature work', 'feature')
    const { fake, octokit, repo } = await start({ originDir: origin.bareDir })
    fake.setPermission('maintainer', 'maintain')
    fake.addIssue({ number: 1, title: 'no description', body: null, labels: ['agents'] })
    fake.addIssue({
      number: 2,
      title: 'names',
      body: '',
      labels: ['a', 'b'],
      labelsAsStrings: true
    })
    fake.addIssue({ number: 3, title: 'closed', body: 'done', state: 'closed' })
    fake.addIssue({ number: 4, title: 'a pull request', body: 'x', pull_request: {} })
    fake.addComment(1, 'hello', { login: 'maintainer' })
    fake.issueEvents.set(1, [
      {
        event: 'renamed',
        actor: { login: 'maintainer', type: 'User' },
        rename: { from: 'a', to: 'b' },
        created_at: '2026-01-01T00:00:00Z'
      },
      {
        event: 'assigned',
        actor: { login: 'maintainer', type: 'User' },
        assignee: { login: 'octocat' },
        created_at: '2026-01-01T00:00:00Z'
      },
      {
        event: 'closed',
        actor: { login: 'maintainer', type: 'User' },
        commit_id: 'f'.repeat(40),
        created_at: '2026-01-01T00:00:00Z'
      }
    ])

    expect((await octokit.rest.repos.get(repo)).data.default_branch).toBe('main')
    const one = (await octokit.rest.issues.get({ ...repo, issue_number: 1 })).data
    expect(one.body).toBeNull()
    const two = (await octokit.rest.issues.get({ ...repo, issue_number: 2 })).data
    expect(two.body).toBeNull() // GitHub keeps an empty description as none
    expect(two.labels).toEqual(['a', 'b'])
    expect((await octokit.rest.issues.get({ ...repo, issue_number: 3 })).data).toMatchObject({
      state: 'closed',
      closed_at: expect.any(String)
    })
    expect(
      (await octokit.rest.issues.get({ ...repo, issue_number: 4 })).data.pull_request?.html_url
    ).toBe('https://github.com/octo-org/demo/pull/4')
    const listed = await octokit.rest.issues.listForRepo({
      ...repo,
      state: 'all',
      labels: 'agents'
    })
    expect(listed.data.map((i) => i.number)).toEqual([1])
    await octokit.rest.issues.update({ ...repo, issue_number: 1, body: 'edited' })
    fake.addSubIssue(1, 3)
    fake.addSubIssue(1, 2)
    const subs = await octokit.rest.issues.listSubIssues({ ...repo, issue_number: 1 })
    expect(subs.data.map((i) => [i.number, i.state])).toEqual([
      [3, 'closed'],
      [2, 'open']
    ])
    const permission = await octokit.rest.repos.getCollaboratorPermissionLevel({
      ...repo,
      username: 'maintainer'
    })
    expect(permission.data).toMatchObject({ permission: 'write', role_name: 'maintain' })

    const comments = await octokit.rest.issues.listComments({ ...repo, issue_number: 1 })
    const created = await octokit.rest.issues.createComment({ ...repo, issue_number: 1, body: 'b' })
    const comment = { ...repo, comment_id: comments.data[0].id }
    await octokit.rest.issues.getComment(comment)
    await octokit.rest.issues.updateComment({ ...comment, body: 'edited' })
    await octokit.rest.reactions.createForIssueComment({ ...comment, content: 'eyes' })
    await octokit.rest.issues.deleteComment({ ...repo, comment_id: created.data.id })

    await octokit.rest.issues.addLabels({ ...repo, issue_number: 1, labels: ['x'] })
    await octokit.rest.issues.listLabelsOnIssue({ ...repo, issue_number: 1 })
    await octokit.rest.issues.removeLabel({ ...repo, issue_number: 1, name: 'x' })
    const events = await octokit.rest.issues.listEvents({ ...repo, issue_number: 1 })
    expect(events.data.map((e) => e.event)).toEqual([
      'renamed',
      'assigned',
      'closed',
      'labeled',
      'unlabeled'
    ])

    const pull = await octokit.rest.pulls.create({
      ...repo,
      title: 'T',
      head: 'feature',
      base: 'main'
    })
    expect(pull.data).toMatchObject({ body: null, commits: 1, changed_files: 1, additions: 1 })
    await octokit.rest.pulls.list({ ...repo, head: 'octo-org:feature', base: 'main' })
    await octokit.rest.pulls.get({ ...repo, pull_number: pull.data.number })
    await octokit.rest.pulls.update({ ...repo, pull_number: pull.data.number, body: 'B' })

    expect(fake.requests.length).toBeGreaterThan(20)
    expect(fake.takeViolations()).toEqual([])
  })
})

describe('what GitHub does not allow is caught on both sides', () => {
  it('records undocumented requests, invalid bodies and answers missing required fields', async () => {
    const { fake, octokit, repo } = await start()
    fake.addIssue({ number: 7, title: 'Tasks', body: '- [ ] one' })

    await octokit.request('GET /repos/{owner}/{repo}/issues/{issue_number}', {
      ...repo,
      issue_number: 7,
      sort: 'created' // not a parameter of this operation
    })
    await octokit.request('GET /repos/{owner}/{repo}/no-such-endpoint', repo).catch(() => undefined)
    await octokit
      .request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...repo,
        issue_number: 7,
        body: 42 as unknown as string // a client bug: GitHub takes a string
      })
      .catch(() => undefined)
    fake.failNext('GET', /\/issues\/7$/, [{ status: 200, body: { number: 7, title: 'Tasks' } }])
    await octokit.rest.issues.get({ ...repo, issue_number: 7 })

    const violations = fake.violations.join('\n')
    expect(violations).toMatch(/request GET .*\(issues\/get\): query parameters: .*'sort'/)
    expect(violations).toMatch(
      /GET \/repos\/octo-org\/demo\/no-such-endpoint: GitHub documents no such operation/
    )
    expect(violations).toMatch(
      /request POST .*\(issues\/create-comment\): request body \/body must be string/
    )
    expect(violations).toMatch(
      /answer to GET .*\(issues\/get\) answered 200: .*required property 'assignee'/
    )
    // After each test, jest-setup.ts does this: the test fails, naming every violation.
    expect(() => FakeGitHub.assertConformance()).toThrow(/does not allow:\n- request GET/)
    expect(fake.violations).toEqual([])
  })

  it('with conformance off, records nothing (for tests of deliberately broken clients)', async () => {
    const { fake, octokit, repo } = await start({ conformance: false })
    await octokit.request('GET /repos/{owner}/{repo}/no-such-endpoint', repo).catch(() => 0)
    expect(fake.violations).toEqual([])
  })

  it('matches a path to the documented operation, literal segments first', () => {
    const api = GitHubOpenApi.load()
    expect(api.match('GET', '/repos/o/r/issues/comments/5')).toMatchObject({
      operationId: 'issues/get-comment',
      params: { owner: 'o', repo: 'r', comment_id: '5' }
    })
    expect(api.match('GET', '/repos/o/r/issues/5')?.operationId).toBe('issues/get')
    expect(api.match('DELETE', '/repos/o/r/issues/5/labels/fanout%3Adone')?.params.name).toBe(
      'fanout:done'
    )
  })
})

describe('GraphQL answers as GitHub gives them', () => {
  const QUERY =
    'query($owner: String!, $repo: String!, $number: Int!) { repository(owner: $owner, name: $repo) { issue(number: $number) { lastEditedAt } } }'

  it('an unknown issue, a pull request or an unknown repository is a NOT_FOUND error, not null', async () => {
    const { fake, octokit, repo } = await start()
    fake.addIssue({ number: 1, title: 'x', body: 'y', last_edited_at: '2026-01-02T00:00:00Z' })
    fake.addIssue({ number: 2, title: 'pr', body: 'y', pull_request: {} })

    expect(await octokit.graphql(QUERY, { ...repo, number: 1 })).toEqual({
      repository: { issue: { lastEditedAt: '2026-01-02T00:00:00Z' } }
    })
    for (const number of [99, 2]) {
      await expect(octokit.graphql(QUERY, { ...repo, number })).rejects.toMatchObject({
        name: 'GraphqlResponseError',
        data: { repository: { issue: null } },
        errors: [
          {
            type: 'NOT_FOUND',
            path: ['repository', 'issue'],
            locations: [{ line: 1, column: expect.any(Number) }],
            message: `Could not resolve to an Issue with the number of ${number}.`
          }
        ]
      })
    }
    await expect(
      octokit.graphql(QUERY, { owner: 'someone', repo: 'else', number: 1 })
    ).rejects.toMatchObject({
      data: { repository: null },
      errors: [{ type: 'NOT_FOUND', path: ['repository'] }]
    })
    expect(fake.violations).toEqual([])
  })

  it('a variable of the wrong type is refused as GitHub refuses it, and recorded', async () => {
    const { fake, octokit, repo } = await start()
    await expect(octokit.graphql(QUERY, { ...repo, number: '1' })).rejects.toMatchObject({
      errors: [{ message: 'Variable $number of type Int! was provided invalid value' }]
    })
    await expect(octokit.graphql('query { viewer { login } }')).rejects.toThrow(
      /unsupported GraphQL query/
    )
    expect(fake.takeViolations()).toEqual([
      'request POST /graphql: Variable $number of type Int! was provided invalid value',
      'request POST /graphql: fake-github does not know this query: query { viewer { login } }'
    ])
  })
})
