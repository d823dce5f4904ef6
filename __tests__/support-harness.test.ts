// Self-test of the test-support harness: real git fixtures, the fake GitHub REST server and the
// runner-like action launcher. It does not need dist/index.js.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { getOctokit } from '@actions/github'
import { FakeGitHub } from '../test-support/fake-github.js'
import {
  cloneWorkspace,
  commitToOrigin,
  createOrigin,
  git,
  removeTempDirs,
  simulateCheckoutCredentials,
  tempDir
} from '../test-support/git-fixtures.js'
import { FAKE_RUNNER_SECRETS, parseFileCommands, runAction } from '../test-support/run-action.js'

afterAll(async () => {
  await removeTempDirs()
})

describe('git fixtures', () => {
  it('clones a shallow workspace on main like actions/checkout', async () => {
    const origin = await createOrigin({ 'README.md': '# demo\n', 'src/a.txt': 'a\n' })
    const workspace = await cloneWorkspace(origin, { depth: 1 })

    expect(existsSync(path.join(workspace, '.git', 'shallow'))).toBe(true)
    expect(await git(workspace, ['rev-parse', '--is-shallow-repository'])).toBe('true')
    expect(await git(workspace, ['branch', '--show-current'])).toBe('main')
    expect(await git(workspace, ['rev-list', '--count', 'HEAD'])).toBe('1')
    expect(await readFile(path.join(workspace, 'src/a.txt'), 'utf8')).toBe('a\n')
    expect(await git(workspace, ['remote', 'get-url', 'origin'])).toBe(origin.url)

    const sha = await commitToOrigin(origin, { 'src/a.txt': null, 'b.txt': 'b\n' }, 'Next')
    expect(await git(origin.bareDir, ['rev-parse', 'refs/heads/main'])).toBe(sha)
    expect(await git(origin.bareDir, ['ls-tree', '-r', '--name-only', 'main'])).toBe(
      'README.md\nb.txt'
    )
  })

  it('persists checkout credentials both ways', async () => {
    const origin = await createOrigin({ 'a.txt': 'a\n' })
    const workspace = await cloneWorkspace(origin)
    const runnerTemp = await tempDir('creds')
    const { credentialsFile } = await simulateCheckoutCredentials(workspace, runnerTemp, 'tok123')
    const header = `AUTHORIZATION: basic ${Buffer.from('x-access-token:tok123').toString('base64')}`

    expect(path.basename(credentialsFile)).toMatch(/^git-credentials-[0-9a-f-]{36}\.config$/)
    const values = await git(workspace, [
      'config',
      '--get-all',
      'http.https://github.com/.extraheader'
    ])
    // One from the includeIf'd file, one written straight into .git/config.
    expect(values.split('\n')).toEqual([header, header])
  })
})

describe('FakeGitHub', () => {
  let fake: FakeGitHub
  beforeAll(async () => {
    fake = await FakeGitHub.start({})
    fake.addIssue({ number: 7, title: 'Tasks', body: '- [ ] one' })
  })
  afterAll(async () => {
    await fake.stop()
  })

  it('serves Octokit: comments with pagination, bad credentials, long bodies', async () => {
    const octokit = getOctokit(fake.token, { baseUrl: fake.url })
    const ref = { owner: fake.owner, repo: fake.repo, issue_number: 7 }

    const { data: created, status } = await octokit.rest.issues.createComment({
      ...ref,
      body: 'hello'
    })
    expect(status).toBe(201)
    expect(created.user?.login).toBe('github-actions[bot]')
    expect(created.html_url).toBe(
      `https://github.com/octo-org/demo/issues/7#issuecomment-${created.id}`
    )
    for (let i = 1; i < 120; i++) {
      await octokit.rest.issues.createComment({ ...ref, body: `comment ${i}` })
    }
    const all = await octokit.paginate(octokit.rest.issues.listComments, { ...ref, per_page: 50 })
    expect(all).toHaveLength(120)
    expect(all[0].id).toBe(created.id)
    expect(fake.requestsMatching('GET', /\/issues\/7\/comments$/)).toHaveLength(3)

    const wrong = getOctokit('ghs_wrong', { baseUrl: fake.url })
    await expect(wrong.rest.issues.get(ref)).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('Bad credentials')
    })

    await expect(
      octokit.rest.issues.createComment({ ...ref, body: 'x'.repeat(65537) })
    ).rejects.toMatchObject({
      status: 422,
      response: {
        data: {
          errors: [expect.objectContaining({ message: expect.stringContaining('too long') })]
        }
      }
    })
    const recorded = fake.requestsMatching('POST', /\/issues\/7\/comments$/)[0]
    expect(recorded.headers.authorization).toBe(`token ${fake.token}`)
    expect(recorded.body).toEqual({ body: 'hello' })
  })

  it('injects faults for the next matching requests only', async () => {
    const octokit = getOctokit(fake.token, { baseUrl: fake.url })
    fake.failNext('GET', /\/issues\/7$/, [{ status: 502 }])
    const ref = { owner: fake.owner, repo: fake.repo, issue_number: 7 }
    await expect(octokit.rest.issues.get(ref)).rejects.toMatchObject({ status: 502 })
    expect((await octokit.rest.issues.get(ref)).data.title).toBe('Tasks')
  })

  it('validates pull requests against the real origin and removes labels like GitHub', async () => {
    const origin = await createOrigin({ 'a.txt': 'a\n' })
    await git(origin.bareDir, ['branch', 'same', 'main'])
    await commitToOrigin(origin, { 'b.txt': 'b\n' }, 'feature work', 'feature')
    const gh = await FakeGitHub.start({ originDir: origin.bareDir })
    try {
      const octokit = getOctokit(gh.token, { baseUrl: gh.url })
      const repo = { owner: gh.owner, repo: gh.repo }
      const open = (head: string) =>
        octokit.rest.pulls.create({ ...repo, title: 'T', head, base: 'main', body: 'B' })
      await expect(open('missing')).rejects.toMatchObject({ status: 422 })
      await expect(open('same')).rejects.toThrow('No commits between main and same')
      const { data: pr } = await open('feature')
      expect(pr.html_url).toBe('https://github.com/octo-org/demo/pull/1')
      await expect(open('octo-org:feature')).rejects.toThrow(
        'A pull request already exists for octo-org:feature.'
      )
      const listed = await octokit.rest.pulls.list({ ...repo, head: 'octo-org:feature' })
      expect(listed.data.map((p) => p.number)).toEqual([1])

      const issue = { ...repo, issue_number: pr.number }
      await octokit.rest.issues.addLabels({ ...issue, labels: ['fanout'] })
      await octokit.rest.issues.removeLabel({ ...issue, name: 'fanout' })
      await expect(
        octokit.rest.issues.removeLabel({ ...issue, name: 'fanout' })
      ).rejects.toMatchObject({ status: 404 })
      expect(gh.issueEvents.get(1)?.map((e) => e.event)).toEqual(['labeled', 'unlabeled'])
    } finally {
      await gh.stop()
    }
  })
})

describe('runAction', () => {
  it('runs an entry script like the runner: inputs with defaults, outputs, summary', async () => {
    const scripts = await tempDir('entry')
    const entry = path.join(scripts, 'entry.mjs')
    await writeFile(
      entry,
      [
        "import { appendFileSync } from 'node:fs'",
        'const env = process.env',
        'const out = (name, value) => appendFileSync(env.GITHUB_OUTPUT, `${name}<<EOF_1\\n${value}\\nEOF_1\\n`)',
        "out('command', env['INPUT_AGENT-COMMAND'])",
        "out('parallel', env['INPUT_MAX-PARALLEL'])",
        "out('token', env['INPUT_GITHUB-TOKEN'])",
        "out('base', `[${env['INPUT_BASE-BRANCH']}]`)",
        "out('multi', 'line 1\\nline 2')",
        "out('leaked', String(Object.keys(env).some((k) => k === 'NODE_OPTIONS' || k === 'JEST_WORKER_ID')))",
        "appendFileSync(env.GITHUB_STATE, 'pid=' + process.pid + '\\n')",
        'appendFileSync(env.GITHUB_STEP_SUMMARY, `## Summary for ${env.GITHUB_REPOSITORY}\\n`)',
        "console.log('::error title=Oops::bad%0Athing')",
        'process.exitCode = 3'
      ].join('\n')
    )
    const workspace = await cloneWorkspace(await createOrigin({ 'a.txt': 'a\n' }))

    const result = await runAction({
      workspace,
      inputs: { 'agent-command': 'echo hi', 'max-parallel': '2' },
      eventName: 'workflow_dispatch',
      payload: { inputs: {} },
      api: { url: 'http://127.0.0.1:9', owner: 'octo-org', repo: 'demo', token: 'ghs_x' },
      entry
    })

    expect(result.stderr).toBe('')
    expect(result.exitCode).toBe(3)
    expect(result.outputs).toEqual({
      command: 'echo hi',
      parallel: '2',
      token: 'ghs_x',
      base: '[]',
      multi: 'line 1\nline 2',
      leaked: 'false'
    })
    expect(result.state.pid).toMatch(/^\d+$/)
    expect(result.summary).toBe('## Summary for octo-org/demo\n')
    expect(result.errors).toEqual(['bad\nthing'])
    expect(result.childEnv['INPUT_FAIL-ON']).toBe('failed,conflicted')
    expect(result.childEnv.GITHUB_SHA).toBe(await git(workspace, ['rev-parse', 'HEAD']))
    expect(result.childEnv.GITHUB_REF).toBe('refs/heads/main')
    expect(result.childEnv.ACTIONS_RUNTIME_TOKEN).toBe(FAKE_RUNNER_SECRETS.ACTIONS_RUNTIME_TOKEN)
    const event = JSON.parse(await readFile(result.childEnv.GITHUB_EVENT_PATH, 'utf8'))
    expect(event).toEqual({ inputs: {} })
  })

  it('parses file commands', () => {
    expect(parseFileCommands('a=1\nb<<X\nx=y\n\nX\nc<<Y\r\nz\r\nY\r\n')).toEqual({
      a: '1',
      b: 'x=y\n',
      c: 'z'
    })
  })
})
