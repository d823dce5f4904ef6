// A first run as a new user meets it, through the bundled action (dist/index.js) and the GitHub
// stand-in: GitHub refusing to open the pull request (the repository setting is off) still
// leaves the report on the issue, with the fix and the branches holding the work, and a run
// after the fix only opens the pull request; `pr-token` opens it and nothing else; sub-issues
// are tasks, and the pull request closes the merged ones and says what each task did.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir,
  type Origin
} from '../../test-support/git-fixtures.js'
import { runAction, type RunActionResult } from '../../test-support/run-action.js'

const servers: FakeGitHub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

const PR_TOKEN = 'github_pat_prTokenFor_e2e_0123456789'
const SETTING = 'Allow GitHub Actions to create and approve pull requests'

interface World {
  origin: Origin
  api: FakeGitHub
  scratch: string
  env: NodeJS.ProcessEnv
}

async function world(body: string): Promise<World> {
  const origin = await createOrigin({ 'README.md': '# Demo\n' })
  const api = await FakeGitHub.start({ originDir: origin.bareDir, extraTokens: [PR_TOKEN] })
  servers.push(api)
  api.addIssue({ number: 12, title: 'Polish the demo', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return { origin, api, scratch: await tempDir('first-run'), env: isolatedGitEnv(origin.home) }
}

/** Each task writes its file and commits it with a subject of its own; started tasks are logged. */
const AGENT = [
  'echo "$TASK_ID" >> "$SCRATCH/started"',
  'env > "$SCRATCH/env-$TASK_ID"',
  'echo "$TASK_TITLE" > "$TASK_ID.txt"',
  'git add "$TASK_ID.txt" && git commit -qm "Write $TASK_ID.txt for the reviewers"'
].join('\n')

async function act(
  w: World,
  extra: { inputs?: Record<string, string>; env?: Record<string, string> } = {}
): Promise<RunActionResult> {
  const issue = w.api.issues.get(12)!
  return runAction({
    workspace: await cloneWorkspace(w.origin, { depth: 1 }),
    inputs: { 'agent-command': AGENT, ...extra.inputs },
    eventName: 'issues',
    payload: {
      action: 'labeled',
      label: { name: 'agents' },
      issue: { number: 12, title: issue.title, body: issue.body, user: { login: 'author' } },
      repository: { name: w.api.repo, owner: { login: w.api.owner }, default_branch: 'main' },
      sender: { login: 'maintainer', type: 'User' }
    },
    api: w.api,
    env: { SCRATCH: w.scratch, ...extra.env }
  })
}

const started = (w: World): string[] =>
  existsSync(path.join(w.scratch, 'started'))
    ? readFileSync(path.join(w.scratch, 'started'), 'utf8').trim().split('\n')
    : []

const onOrigin = (w: World, branch: string): Promise<string> =>
  git(w.origin.bareDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], w.env).catch(
    () => ''
  )

const statusComment = (w: World): string =>
  w.api.comments.find((c) => c.body.includes('<!-- agent-fanout:status issue=12 -->'))?.body ?? ''

describe('a first run that just works', () => {
  it('403 on creating the pull request: the report with the fix and the branches, a failed step; the next run only opens it', async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T2: Add two\n')
    w.api.failNext('POST', /\/pulls$/, [
      {
        status: 403,
        body: {
          message: 'GitHub Actions is not permitted to create or approve pull requests.',
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          status: '403'
        }
      }
    ])
    const first = await act(w)

    expect(first.exitCode).toBe(1)
    expect(first.errors.join('\n')).toContain('GitHub refused to open it (HTTP 403)')
    expect(w.api.pulls).toHaveLength(0)
    expect(first.outputs['pull-request-number']).toBe('')
    // The report is on the issue all the same: what GitHub said, the fix, where the work is.
    const report = statusComment(w)
    expect(report).toContain('GitHub refused to open the pull request (HTTP 403)')
    expect(report).toContain(SETTING)
    expect(report).toContain('Settings → Actions → General → Workflow permissions')
    expect(report).toContain('`pr-token`')
    expect(report).toContain('| T1 | Add one | ✅ merged |')
    for (const branch of ['integration', 'T1', 'T2']) {
      expect(report).toContain(`\`fanout/issue-12/${branch}\``)
      expect(await onOrigin(w, `fanout/issue-12/${branch}`)).toMatch(/^[0-9a-f]{40}$/)
    }
    expect(report).toContain(
      `https://github.com/${w.api.fullName}/compare/main...fanout/issue-12/integration?expand=1`
    )
    expect(w.api.issues.get(12)?.labels).toContain('fanout:needs-attention')

    // The setting is on now: the next run reuses both tasks and opens the pull request.
    const second = await act(w)
    expect(second.exitCode).toBe(0)
    expect(started(w).sort()).toEqual(['T1', 'T2'])
    expect(w.api.pulls).toHaveLength(1)
    expect(second.outputs['pull-request-number']).toBe(String(w.api.pulls[0].number))
    expect(statusComment(w)).not.toContain('GitHub refused')
    expect(w.api.comments.filter((c) => c.issue_number === 12)).toHaveLength(1)
  })

  it('pr-token opens the pull request and does nothing else; agents never see it', async () => {
    const w = await world('- [ ] T1: Add one\n')
    const r = await act(w, {
      inputs: { 'pr-token': PR_TOKEN },
      // A token-valued variable of another name must not reach agents either.
      env: { FANOUT_PR_TOKEN: PR_TOKEN }
    })
    expect(r.exitCode).toBe(0)
    expect(w.api.pulls).toHaveLength(1)
    const auth = (method: string, pattern: RegExp): string[] =>
      w.api.requestsMatching(method, pattern).map((q) => String(q.headers.authorization))
    expect(auth('POST', /\/pulls$/)).toEqual([`token ${PR_TOKEN}`])
    expect(auth('GET', /\/pulls$/)).toEqual([`token ${PR_TOKEN}`])
    const others = w.api.requests.filter((q) => !q.path.endsWith('/pulls'))
    expect(others.length).toBeGreaterThan(3)
    for (const q of others) expect(q.headers.authorization).toBe(`token ${w.api.token}`)
    const agentEnv = readFileSync(path.join(w.scratch, 'env-T1'), 'utf8')
    expect(agentEnv).not.toContain(PR_TOKEN)
    expect(agentEnv).not.toMatch(/^FANOUT_PR_TOKEN=/m)
  })

  it('sub-issues are tasks: closed ones skipped; the pull request closes the merged ones and says what each task did', async () => {
    const w = await world('Release work:\n\n- [ ] T1: Add one\n')
    w.api.addIssue({ number: 45, title: 'Search <b>box</b> @octocat', body: 'Add a search box.' })
    w.api.addIssue({ number: 46, title: 'Already done', body: null, state: 'closed' })
    w.api.addIssue({ number: 47, title: 'Broken', body: 'fails' })
    w.api.addSubIssue(12, 47)
    w.api.addSubIssue(12, 46)
    w.api.addSubIssue(12, 45)
    const r = await act(w, {
      inputs: {
        'agent-command': `if [ "$TASK_ID" = I47 ]; then exit 3; fi\n${AGENT}`,
        'fail-on': 'none'
      }
    })
    expect(r.exitCode).toBe(0)
    expect(started(w).sort()).toEqual(['I45', 'T1'])
    const tasks = JSON.parse(r.outputs.tasks) as { id: string; status: string; reason?: string }[]
    expect(tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['I47', 'failed'],
      ['I46', 'skipped'],
      ['I45', 'merged']
    ])
    expect(tasks[2].reason).toBe('sub-issue #46 is closed (done)')
    expect(readFileSync(path.join(w.scratch, 'env-I45'), 'utf8')).toContain(
      'TASK_TITLE=Search <b>box</b> @octocat'
    )
    expect(await onOrigin(w, 'fanout/issue-12/I45')).toMatch(/^[0-9a-f]{40}$/)

    const body = w.api.pulls[0].body
    expect(body).toMatch(/^Closes #45$/m)
    expect(body).not.toMatch(/Closes #4[67]/)
    expect(body).not.toMatch(/Closes #12/)
    expect(body).toContain('### What each task did')
    expect(body).toContain('Write I45.txt for the reviewers')
    expect(body).toContain('**Files changed (1):** `I45.txt`')
    expect(body).not.toContain('@octocat')
  })
})
