// The bundled action against the GitHub data it meets in the wild, in the shapes GitHub's API
// description allows (the stand-in checks every request and answer against it): a schedule
// payload that carries nothing but the cron line, labels served as plain names, closed issues,
// issues that are pull requests, issues without a description, and event lists where label
// events are mixed with every other kind.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { FakeGitHub, type FakeIssueEvent } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  commitToOrigin,
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

interface World {
  origin: Origin
  api: FakeGitHub
  scratch: string
  env: NodeJS.ProcessEnv
}

async function world(defaultBranch = 'main'): Promise<World> {
  const origin = await createOrigin({ 'README.md': '# x\n' })
  const api = await FakeGitHub.start({ originDir: origin.bareDir, defaultBranch })
  servers.push(api)
  api.setPermission('maintainer', 'write')
  api.setPermission('reader', 'read')
  return { origin, api, scratch: await tempDir('api-scratch'), env: isolatedGitEnv(origin.home) }
}

const AGENT =
  'echo "$ISSUE_NUMBER/$TASK_ID" >> "$SCRATCH/started"; echo "$TASK_TITLE" > "$TASK_ID.txt"'
const CRON = '*/30 * * * *'

const started = (w: World): string[] =>
  existsSync(path.join(w.scratch, 'started'))
    ? readFileSync(path.join(w.scratch, 'started'), 'utf8').trim().split('\n')
    : []

/** A scheduled run as GitHub starts one: the event payload is `{"schedule": "<cron>"}`, no more. */
async function sweep(w: World, inputs: Record<string, string> = {}): Promise<RunActionResult> {
  return runAction({
    workspace: await cloneWorkspace(w.origin, { depth: 1 }),
    eventName: 'schedule',
    payload: { schedule: CRON },
    api: w.api,
    inputs: { 'agent-command': AGENT, ...inputs },
    env: { SCRATCH: w.scratch }
  })
}

const by = (login: string) => ({ login, type: 'User' })
const labeled = (login: string, label: string, at: string): FakeIssueEvent => ({
  event: 'labeled',
  actor: by(login),
  label: { name: label },
  created_at: at
})

describe('the action against the data GitHub serves', () => {
  it('a schedule payload without `repository` takes the base branch from repos.get', async () => {
    // The stand-in's repository says `develop` is the default branch, while the checkout is on
    // `main` (origin's HEAD): only repos.get can tell the action to work from `develop`.
    const w = await world('develop')
    await commitToOrigin(w.origin, { 'develop.txt': 'only on develop\n' }, 'develop', 'develop')
    w.api.addIssue({ number: 1, title: 'one', body: '- [ ] Write it\n', labels: ['agents'] })
    w.api.issueEvents.set(1, [labeled('maintainer', 'agents', '2026-01-01T00:00:00Z')])

    const r = await sweep(w)

    expect(r.exitCode).toBe(0)
    expect(w.api.requestsMatching('GET', /^\/repos\/octo-org\/demo$/).length).toBeGreaterThan(0)
    expect(started(w)).toEqual(['1/T1'])
    expect(w.api.pulls.map((p) => [p.head, p.base])).toEqual([
      ['fanout/issue-1/integration', 'develop']
    ])
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '--name-only', 'fanout/issue-1/integration'],
      w.env
    )
    expect(files.split('\n').sort()).toEqual(['README.md', 'T1.txt', 'develop.txt'])
  })

  it('a sweep reads string labels, skips closed issues and pull requests, and finds the labeller among other events', async () => {
    const w = await world()
    const open = (n: number, labels: string[], at: string) =>
      w.api.addIssue({
        number: n,
        title: `issue ${n}`,
        body: `- [ ] Task of ${n}\n`,
        labels,
        labelsAsStrings: true,
        created_at: at
      })
    // Oldest first: a closed issue and a pull request that carry the label, an issue a run has
    // already taken (its progress label a plain string too), then the one to run.
    open(1, ['agents'], '2026-01-01T00:00:00Z').state = 'closed'
    w.api.addIssue({
      number: 2,
      title: 'a pull request',
      body: '- [ ] Not a task\n',
      labels: ['agents'],
      pull_request: {},
      created_at: '2026-01-02T00:00:00Z'
    })
    open(3, ['agents', 'fanout:done'], '2026-01-03T00:00:00Z')
    open(4, ['bug', 'agents'], '2026-01-04T00:00:00Z')
    for (const n of [1, 2, 3]) {
      w.api.issueEvents.set(n, [labeled('maintainer', 'agents', '2026-01-05T00:00:00Z')])
    }
    // A reader labelled it first; the label was taken off and put back by the maintainer, whose
    // authority counts. Every other kind of event is in between.
    w.api.issueEvents.set(4, [
      labeled('reader', 'agents', '2026-01-04T01:00:00Z'),
      {
        event: 'unlabeled',
        actor: by('maintainer'),
        label: { name: 'agents' },
        created_at: '2026-01-04T02:00:00Z'
      },
      {
        event: 'renamed',
        actor: by('reader'),
        rename: { from: 'old', to: 'issue 4' },
        created_at: '2026-01-04T03:00:00Z'
      },
      {
        event: 'assigned',
        actor: by('maintainer'),
        assignee: by('reader'),
        created_at: '2026-01-04T04:00:00Z'
      },
      labeled('maintainer', 'agents', '2026-01-04T05:00:00Z'),
      labeled('reader', 'bug', '2026-01-04T06:00:00Z'),
      {
        event: 'milestoned',
        actor: by('reader'),
        milestone: { title: 'v1' },
        created_at: '2026-01-04T07:00:00Z'
      },
      {
        event: 'referenced',
        actor: by('reader'),
        commit_id: 'a'.repeat(40),
        created_at: '2026-01-04T08:00:00Z'
      },
      { event: 'mentioned', actor: by('reader'), created_at: '2026-01-04T09:00:00Z' },
      { event: 'subscribed', actor: by('reader'), created_at: '2026-01-04T09:00:00Z' }
    ])

    const r = await sweep(w, { 'max-issues': '5' })

    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/Triggered by maintainer \(write permission\)/)
    expect(started(w)).toEqual(['4/T1'])
    expect(w.api.pulls.map((p) => p.head)).toEqual(['fanout/issue-4/integration'])
    expect(w.api.issues.get(4)!.labels).toEqual(['bug', 'agents', 'fanout:done'])
    for (const n of [1, 2, 3]) {
      expect(w.api.comments.filter((c) => c.issue_number === n)).toEqual([])
    }
    expect(w.api.issues.get(3)!.labels).toEqual(['agents', 'fanout:done'])
  })

  it('an issue without a description is explained once and no longer holds up the sweep', async () => {
    const w = await world()
    w.api.addIssue({
      number: 1,
      title: 'no description',
      body: null,
      labels: ['agents'],
      created_at: '2026-01-01T00:00:00Z'
    })
    w.api.addIssue({
      number: 2,
      title: 'two',
      body: '- [ ] Second\n',
      labels: ['agents'],
      created_at: '2026-01-02T00:00:00Z'
    })
    w.api.issueEvents.set(1, [labeled('maintainer', 'agents', '2026-01-03T00:00:00Z')])
    w.api.issueEvents.set(2, [labeled('maintainer', 'agents', '2026-01-03T00:00:00Z')])

    // One issue per sweep (the schedule example's max-issues: 1), oldest first.
    const first = await sweep(w)
    expect(first.exitCode).toBe(0)
    expect(started(w)).toEqual([])
    const explained = w.api.comments.filter((c) => c.issue_number === 1)
    expect(explained).toHaveLength(1)
    expect(explained[0].body).toMatch(/No open tasks were found in this issue/)
    expect(w.api.issues.get(1)!.labels).toContain('fanout:needs-attention')

    const second = await sweep(w)
    expect(second.exitCode).toBe(0)
    expect(started(w)).toEqual(['2/T1'])
    expect(w.api.comments.filter((c) => c.issue_number === 1)).toEqual(explained)
  })
})
