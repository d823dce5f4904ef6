// The action's live status (src/action/live-status.ts) on the GitHub stand-in, driven by
// synthetic run events: one comment, created at the start, moved along by the events, handed
// over to the final report; a run that stops says so unless something else wrote there.
import { getOctokit } from '@actions/github'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { LiveStatus } from '../src/action/live-status.js'
import { memoryLogger } from '../src/core/logger.js'
import type { Task, TaskResult } from '../src/core/types.js'
import { octokitApi, type GitHubApi } from '../src/github/api.js'
import { upsertStatusComment } from '../src/github/publish.js'
import { FakeGitHub } from '../test-support/fake-github.js'

const MARKER = '<!-- agent-fanout:status issue=4 -->\n<!-- agent-fanout:state e30= -->'
const task = (id: string, title: string): Task => ({
  id,
  idSource: 'position',
  position: Number(id.slice(1)),
  title,
  body: '',
  checked: false
})

describe('LiveStatus (stand-in)', () => {
  let fake: FakeGitHub
  let api: GitHubApi
  beforeAll(async () => {
    fake = await FakeGitHub.start()
    api = octokitApi(getOctokit(fake.token, { baseUrl: fake.url }), fake.owner, fake.repo)
  })
  afterAll(async () => fake.stop())

  const start = (issue: number, reportGraceMs?: number) =>
    LiveStatus.start({
      ...(reportGraceMs === undefined ? {} : { reportGraceMs }),
      api,
      logger: memoryLogger(),
      issueNumber: issue,
      tasks: [task('T1', 'One'), task('T2', 'Two')],
      prefix: `fanout/issue-${issue}`,
      marker: MARKER.replace('issue=4', `issue=${issue}`),
      known: [],
      uploadLogs: false,
      workDir: '/nonexistent',
      intervalMs: 10
    })
  const comments = (issue: number) => fake.comments.filter((c) => c.issue_number === issue)

  it('creates the comment at once, follows the events, and hands the same comment to the final report', async () => {
    fake.addIssue({ number: 4, title: 'x', body: '- [ ] One\n- [ ] Two\n' })
    const live = start(4)
    await live.settled()
    expect(comments(4)).toHaveLength(1)
    expect(comments(4)[0].body).toContain('<!-- agent-fanout:state e30= -->')
    expect(comments(4)[0].body).toMatch(/\| T1 \| One \| ⏳ queued \|/)
    live.watch({ kind: 'started', at: Date.now(), taskId: 'T1', attempt: 1 })
    await live.settled()
    expect(comments(4)[0].body).toMatch(/\| T1 \| One \| 🏃 running \|/)
    const done: TaskResult = {
      id: 'T1',
      title: 'One',
      status: 'ready',
      branch: 'fanout/issue-4/T1',
      changedFiles: ['a'],
      durationMs: 5,
      startedAt: Date.now() - 5,
      finishedAt: Date.now()
    }
    live.watch({ kind: 'finished', at: Date.now(), result: done })
    await live.settled()
    expect(comments(4)[0].body).toMatch(/\| T1 \| One \| 📦 done, to be merged \|/)
    const result = {
      baseBranch: 'main',
      baseSha: 'a'.repeat(40),
      integrationBranch: 'i',
      integrationSha: 'b'.repeat(40),
      tasks: [{ ...done, status: 'merged' as const }]
    }
    const known = await live.handOver(result)
    await upsertStatusComment(api, 4, `${MARKER}\nfinal`, memoryLogger(), known)
    expect(comments(4).map((c) => c.body)).toEqual([`${MARKER}\nfinal`])
    // Nothing of the live status comes after the final report.
    live.watch({ kind: 'integrating', at: Date.now() })
    await live.settled()
    expect(comments(4)[0].body).toBe(`${MARKER}\nfinal`)
  })

  it('once the last agent ends, leaves the body to the final report unless integrating takes long', async () => {
    const ended = (id: string, title: string): TaskResult => ({
      id,
      title,
      status: 'ready',
      branch: `fanout/issue-8/${id}`,
      changedFiles: ['a'],
      durationMs: 5,
      startedAt: Date.now() - 5,
      finishedAt: Date.now()
    })
    const result = (tasks: TaskResult[]) => ({
      baseBranch: 'main',
      baseSha: 'a'.repeat(40),
      integrationBranch: 'i',
      integrationSha: 'b'.repeat(40),
      tasks: tasks.map((t) => ({ ...t, status: 'merged' as const }))
    })
    const edits = (issue: number) =>
      fake.requests.filter(
        (q) =>
          (q.method === 'PATCH' && /\/issues\/comments\/\d+$/.test(q.path)) ||
          (q.method === 'POST' && new RegExp(`/issues/${issue}/comments$`).test(q.path))
      ).length

    // Integration within the grace: no live edit after the last agent, the report is next.
    fake.addIssue({ number: 8, title: 'x', body: '- [ ] One\n- [ ] Two\n' })
    const quick = start(8, 60_000)
    await quick.settled()
    quick.watch({ kind: 'finished', at: Date.now(), result: ended('T1', 'One') })
    await quick.settled()
    // Past the 10 ms interval of ordinary edits: without the grace, the next edit goes out now.
    await new Promise((r) => setTimeout(r, 50))
    const before = edits(8)
    quick.watch({ kind: 'finished', at: Date.now(), result: ended('T2', 'Two') })
    quick.watch({ kind: 'integrating', at: Date.now() })
    await new Promise((r) => setTimeout(r, 300))
    await quick.handOver(result([ended('T1', 'One'), ended('T2', 'Two')]))
    expect(edits(8)).toBe(before)
    expect(comments(8)[0].body).not.toMatch(/\| T2 \| Two \| 📦 done, to be merged \|/)

    // Integration longer than the grace: the comment shows every agent done meanwhile.
    fake.addIssue({ number: 9, title: 'x', body: '- [ ] One\n- [ ] Two\n' })
    const slow = start(9, 200)
    await slow.settled()
    slow.watch({ kind: 'finished', at: Date.now(), result: ended('T1', 'One') })
    slow.watch({ kind: 'finished', at: Date.now(), result: ended('T2', 'Two') })
    slow.watch({ kind: 'integrating', at: Date.now() })
    await slow.settled()
    expect(comments(9)[0].body).toMatch(/\| T2 \| Two \| 📦 done, to be merged \|/)
    expect(comments(9)[0].body).toMatch(/every agent is done; merging/)
    await slow.handOver(result([ended('T1', 'One'), ended('T2', 'Two')]))
  })

  it('says the run stopped when its stages fail, but leaves a refusal written there meanwhile', async () => {
    fake.addIssue({ number: 5, title: 'x', body: '- [ ] One\n' })
    const live = start(5)
    await expect(
      live.around(async () => {
        throw new Error('fetch of main failed: connection reset')
      })
    ).rejects.toThrow('connection reset')
    expect(comments(5)[0].body).toMatch(/agent-fanout: stopped before the agents finished/)
    expect(comments(5)[0].body).toContain('fetch of main failed: connection reset')
    expect(comments(5)[0].body.startsWith(MARKER.replace('issue=4', 'issue=5'))).toBe(true)

    fake.addIssue({ number: 6, title: 'x', body: '- [ ] One\n' })
    const other = start(6)
    await expect(
      other.around(async () => {
        await other.settled()
        // What explainOnIssue does for a refusal: it edits the comment found by its marker.
        await upsertStatusComment(api, 6, 'refused: explained', memoryLogger(), [
          { id: comments(6)[0].id, body: '', url: '', author: '', authorType: 'Bot' }
        ])
        throw new Error('refused')
      })
    ).rejects.toThrow('refused')
    expect(comments(6).map((c) => c.body)).toEqual(['refused: explained'])
  })
})
