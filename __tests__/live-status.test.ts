import { getOctokit } from '@actions/github'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { memoryLogger } from '../src/core/logger.js'
import { renderGantt, ganttName } from '../src/core/report/gantt.js'
import { renderReport } from '../src/core/report/markdown.js'
import {
  annotateRow,
  applyLiveEvent,
  initialLiveState,
  renderLiveStatus,
  type LiveState
} from '../src/core/report/live.js'
import { humanDuration } from '../src/core/report/time.js'
import type { RunEvent } from '../src/core/events.js'
import type { TaskResult } from '../src/core/types.js'
import { octokitApi, type GitHubApi } from '../src/github/api.js'
import { PacedWriter, statusCommentWriter, type Clock } from '../src/github/live-comment.js'
import { artifactServiceMissing, logUploader } from '../src/github/log-artifacts.js'
import { FakeArtifacts, fakeRuntimeToken } from '../test-support/fake-artifacts.js'
import { FakeGitHub } from '../test-support/fake-github.js'
import { tempDir } from '../test-support/git-fixtures.js'
import { parseMarkdown, allNodes, mentions } from '../test-support/markdown-structure.js'

const T0 = Date.UTC(2026, 10, 29, 19, 0, 0)

const result = (id: string, status: TaskResult['status'], start: number, end: number) =>
  ({
    id,
    title: `Task ${id}`,
    status,
    branch: `fanout/issue-3/${id}`,
    changedFiles: [],
    durationMs: end - start,
    startedAt: start,
    finishedAt: end
  }) as TaskResult

function tableRows(markdown: string): string[][] {
  const table = allNodes(parseMarkdown(markdown)).find((n) => n.type === 'table')
  if (!table || table.type !== 'table') throw new Error('no table')
  return table.children.map((row) =>
    row.children.map((cell) =>
      allNodes(cell)
        .map((n) => (n.type === 'text' || n.type === 'inlineCode' ? n.value : ''))
        .join('')
    )
  )
}

const ctx = {
  marker: '<!-- agent-fanout:status issue=3 -->',
  issueNumber: 3,
  runUrl: 'https://github.com/o/r/actions/runs/1',
  branchUrl: (b: string) => `https://github.com/o/r/tree/${b}`,
  now: T0 + 75_000
}

describe('live status model', () => {
  const tasks = [
    { id: 'T1', title: 'Add a login form', branch: 'fanout/issue-3/T1' },
    { id: 'T2', title: 'Add logout', branch: 'fanout/issue-3/T2' },
    { id: 'T3', title: 'Done already', branch: 'fanout/issue-3/T3', checked: true }
  ]

  it('starts with every open task queued and a link to the workflow run', () => {
    const body = renderLiveStatus(initialLiveState(tasks, T0), ctx)
    expect(body.startsWith(`${ctx.marker}\n`)).toBe(true)
    expect(body).toContain('(https://github.com/o/r/actions/runs/1)')
    const rows = tableRows(body)
    expect(rows[0]).toEqual(['Task', 'Title', 'Status', 'Started', 'Duration', 'Branch', 'Log'])
    expect(rows.slice(1).map((r) => r[2])).toEqual(['⏳ queued', '⏳ queued', '⏭️ skipped'])
  })

  it('moves rows along with the events: running with its start time, then the result', () => {
    let state: LiveState = initialLiveState(tasks, T0)
    const events: RunEvent[] = [
      {
        kind: 'planned',
        at: T0 + 1000,
        tasks: [
          { id: 'T1', title: 'Add a login form', action: 'run', dependsOn: [] },
          { id: 'T2', title: 'Add logout', action: 'run', dependsOn: [] }
        ]
      },
      { kind: 'started', at: T0 + 3000, taskId: 'T1', attempt: 1 },
      { kind: 'started', at: T0 + 4000, taskId: 'T2', attempt: 1 }
    ]
    for (const e of events) state = applyLiveEvent(state, e)
    let rows = tableRows(renderLiveStatus(state, ctx)).slice(1)
    expect(rows[0].slice(2, 5)).toEqual(['🏃 running', '19:00:03 UTC', '1 min 12 s so far'])
    state = applyLiveEvent(state, {
      kind: 'finished',
      at: T0 + 75_000,
      result: result('T1', 'ready', T0 + 3000, T0 + 75_000)
    })
    state = annotateRow(state, 'T1', {
      logUrl: 'https://github.com/o/r/actions/runs/1/artifacts/7'
    })
    const body = renderLiveStatus(state, ctx)
    rows = tableRows(body).slice(1)
    expect(rows[0].slice(2, 7)).toEqual([
      '📦 done, to be merged',
      '19:00:03 UTC',
      '1 min 12 s',
      'fanout/issue-3/T1',
      'log'
    ])
    expect(body).toContain('[log](https://github.com/o/r/actions/runs/1/artifacts/7)')
    expect(rows[1][2]).toBe('🏃 running')
    // Not pushed yet: the branch is named, not linked.
    expect(body).not.toContain('tree/fanout/issue-3/T1')
    state = annotateRow(state, 'T1', { pushed: true })
    expect(renderLiveStatus(state, ctx)).toContain(
      '[`fanout/issue-3/T1`](https://github.com/o/r/tree/fanout/issue-3/T1)'
    )
  })

  it('keeps untrusted titles as text: no table break, no mention', () => {
    const state = initialLiveState(
      [{ id: 'T1', title: 'a | b\n| x | @someone <b>', branch: 'fanout/issue-3/T1' }],
      T0
    )
    const body = renderLiveStatus(state, ctx)
    expect(tableRows(body)).toHaveLength(2)
    expect(mentions(body)).toEqual([])
    expect(allNodes(parseMarkdown(body)).filter((n) => n.type === 'html')).toHaveLength(1)
  })

  it('says durations the way people read them', () => {
    expect(humanDuration(400)).toBe('0.4 s')
    expect(humanDuration(9_960)).toBe('10.0 s')
    expect(humanDuration(12_000)).toBe('12 s')
    expect(humanDuration(72_000)).toBe('1 min 12 s')
    expect(humanDuration(120_000)).toBe('2 min')
    expect(humanDuration(7_500_000)).toBe('2 h 5 min')
  })
})

/** A clock the test moves by hand: timers fire when it passes their time. */
function manualClock(): Clock & { advance(ms: number): Promise<void> } {
  let now = 0
  const timers: { at: number; fn: () => void; id: number }[] = []
  let next = 1
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++
      timers.push({ at: now + ms, fn, id })
      return id
    },
    clearTimeout(h) {
      const i = timers.findIndex((t) => t.id === h)
      if (i >= 0) timers.splice(i, 1)
    },
    async advance(ms) {
      const end = now + ms
      for (;;) {
        await new Promise((r) => setImmediate(r))
        timers.sort((a, b) => a.at - b.at)
        const due = timers[0]
        if (!due || due.at > end) break
        timers.shift()
        now = due.at
        due.fn()
      }
      now = end
      await new Promise((r) => setImmediate(r))
    }
  }
}

describe('PacedWriter', () => {
  it('writes the first body at once, then at most one edit per interval with the latest body', async () => {
    const clock = manualClock()
    const writes: { at: number; body: string }[] = []
    const writer = new PacedWriter(
      async (body) => {
        writes.push({ at: clock.now(), body })
      },
      { logger: memoryLogger(), clock, intervalMs: 3000, minGapMs: 1000 }
    )
    writer.post('first', true)
    await clock.advance(0)
    expect(writes.map((w) => w.body)).toEqual(['first'])
    writer.post('a')
    writer.post('b')
    await clock.advance(2000)
    writer.post('c')
    await clock.advance(999)
    expect(writes.map((w) => w.body)).toEqual(['first'])
    await clock.advance(1)
    expect(writes).toEqual([
      { at: 0, body: 'first' },
      { at: 3000, body: 'c' }
    ])
    // A milestone goes out after the one-second gap, not the interval.
    writer.post('all agents done', true)
    await clock.advance(1000)
    expect(writes.at(-1)).toEqual({ at: 4000, body: 'all agents done' })
    writer.post('late, dropped')
    const final = writer.final('final report')
    await clock.advance(1000)
    await final
    expect(writes.slice(3).map((w) => w.body)).toEqual(['final report'])
    writer.post('after the end')
    await clock.advance(10_000)
    expect(writes).toHaveLength(4)
  })

  it('holds every write until a given time; the final report drops what was held', async () => {
    const clock = manualClock()
    const writes: { at: number; body: string }[] = []
    const writer = new PacedWriter(
      async (body) => {
        writes.push({ at: clock.now(), body })
      },
      { logger: memoryLogger(), clock, intervalMs: 3000, minGapMs: 1000 }
    )
    writer.post('first', true)
    await clock.advance(5000)
    writer.holdUntil(6500)
    writer.post('all agents done', true)
    await clock.advance(1499)
    expect(writes.map((w) => w.body)).toEqual(['first'])
    await clock.advance(1)
    expect(writes.at(-1)).toEqual({ at: 6500, body: 'all agents done' })
    // Held again, and the final report comes first: the held edit is never written, and the
    // report does not wait for the hold.
    writer.holdUntil(9000)
    writer.post('merging')
    await clock.advance(1000)
    const final = writer.final('final report')
    await clock.advance(0)
    await final
    expect(writes.map((w) => [w.at, w.body])).toEqual([
      [0, 'first'],
      [6500, 'all agents done'],
      [7500, 'final report']
    ])
  })

  it('logs a failed live edit and goes on; a failed final report is thrown', async () => {
    const clock = manualClock()
    const logger = memoryLogger()
    let fail = true
    const writer = new PacedWriter(
      async () => {
        if (fail) throw new Error('HTTP 502')
      },
      { logger, clock }
    )
    writer.post('x', true)
    await clock.advance(0)
    expect(logger.lines.join('\n')).toMatch(/Could not update the live status comment: HTTP 502/)
    // A server error may pass: the next update is tried.
    writer.post('x2', true)
    await clock.advance(1000)
    expect(logger.lines.filter((l) => /HTTP 502/.test(l))).toHaveLength(2)
    const final = writer.final('y').then(
      () => 'written',
      (e: Error) => e.message
    )
    await clock.advance(1000)
    expect(await final).toBe('HTTP 502')
    fail = false
  })
})

describe('PacedWriter, refused', () => {
  it('stops live edits after a 4xx (asking again would be refused again), still writes the final', async () => {
    const clock = manualClock()
    const logger = memoryLogger()
    const bodies: string[] = []
    const writer = new PacedWriter(
      async (body) => {
        bodies.push(body)
        if (bodies.length === 1) throw Object.assign(new Error('Forbidden'), { status: 403 })
      },
      { logger, clock }
    )
    writer.post('live 1', true)
    await clock.advance(0)
    writer.post('live 2', true)
    await clock.advance(5000)
    expect(bodies).toEqual(['live 1'])
    expect(logger.lines.join('\n')).toMatch(/no more live updates in this run/)
    const final = writer.final('final')
    await clock.advance(1000)
    await final
    expect(bodies).toEqual(['live 1', 'final'])
  })
})

describe('status comment writer (stand-in)', () => {
  let fake: FakeGitHub
  let api: GitHubApi
  beforeAll(async () => {
    fake = await FakeGitHub.start()
    api = octokitApi(getOctokit(fake.token, { baseUrl: fake.url }), fake.owner, fake.repo)
  })
  afterAll(async () => fake.stop())

  it('creates one comment and edits that same comment afterwards, even when earlier runs left none', async () => {
    fake.addIssue({ number: 5, title: 'x', body: '- [ ] a' })
    const w = statusCommentWriter(api, 5, memoryLogger(), [])
    await w.write('<!-- agent-fanout:status issue=5 -->\none')
    await w.write('<!-- agent-fanout:status issue=5 -->\ntwo')
    const mine = fake.comments.filter((c) => c.issue_number === 5)
    expect(mine.map((c) => c.body)).toEqual(['<!-- agent-fanout:status issue=5 -->\ntwo'])
    expect(w.comment?.id).toBe(mine[0].id)
    // Deleted meanwhile: posted again rather than lost.
    fake.comments = fake.comments.filter((c) => c.issue_number !== 5)
    await w.write('<!-- agent-fanout:status issue=5 -->\nthree')
    expect(fake.comments.filter((c) => c.issue_number === 5).map((c) => c.body)).toEqual([
      '<!-- agent-fanout:status issue=5 -->\nthree'
    ])
  })
})

describe('gantt of the run', () => {
  it('draws one bar per task from start to end, tagged by outcome', () => {
    const chart = renderGantt([
      result('T1', 'merged', T0, T0 + 5000),
      result('T2', 'failed', T0 + 1000, T0 + 9000)
    ])!
    expect(chart).toContain('```mermaid\ngantt\n')
    expect(chart).toContain(`  T1 Task T1 (merged) :done, t1, ${T0}, ${T0 + 5000}\n`)
    expect(chart).toContain(`  T2 Task T2 (failed) :crit, t2, ${T0 + 1000}, ${T0 + 9000}\n`)
  })

  it('keeps a hostile title from ending the chart line, the chart or the fence', () => {
    const hostile =
      'x :crit, evil, 1, 2\n  section Pwned\n```\n# %% click t1 href "javascript:alert(1)";'
    const chart = renderGantt([{ ...result('T1', 'merged', T0, T0 + 5000), title: hostile }])!
    const blocks = allNodes(parseMarkdown(chart)).filter((n) => n.type === 'code')
    expect(blocks).toHaveLength(1)
    const lines = (blocks[0] as { value: string }).value.split('\n')
    // One task line, one colon in it (the one before the tags), the one section we wrote.
    expect(lines.slice(5)).toHaveLength(1)
    expect(lines[5]).toMatch(/^ {2}T1 x crit, evil[^:;#%`\n]* \(merged\) :done, t1, \d+, \d+$/)
    expect(lines.filter((l) => /^\s*section/.test(l))).toEqual(['  section Tasks'])
    expect(ganttName('`;#%:')).toBe('task')
  })
})

describe('log artifacts (artifact service stand-in)', () => {
  it('uploads a task log under its own name and links to it from the run', async () => {
    const service = await FakeArtifacts.start()
    try {
      const dir = await tempDir('logs')
      const log = path.join(dir, '0.log')
      await writeFile(log, 'agent says hello\nsecond line\n')
      const uploader = logUploader({
        issueNumber: 3,
        logger: memoryLogger(),
        stagingDir: path.join(dir, 'staging'),
        env: {
          ...service.env(),
          GITHUB_SERVER_URL: 'https://github.com',
          GITHUB_REPOSITORY: 'o/r',
          GITHUB_RUN_ID: '77',
          GITHUB_RUN_ATTEMPT: '2'
        }
      })!
      // The client reads the service's address from the process environment.
      Object.assign(process.env, service.env())
      const url = await uploader.upload('T1', log)
      expect(service.artifacts).toHaveLength(1)
      const [artifact] = service.artifacts
      expect(artifact).toMatchObject({
        name: 'agent-fanout-log-3-T1-attempt-2.txt',
        finalized: true,
        runBackendId: 'run-backend-1'
      })
      expect(artifact.content.toString()).toBe(await readFile(log, 'utf8'))
      expect(url).toBe(`https://github.com/o/r/actions/runs/77/artifacts/${artifact.id}`)
    } finally {
      delete process.env.ACTIONS_RESULTS_URL
      delete process.env.ACTIONS_RUNTIME_TOKEN
      await service.stop()
    }
  })

  it('skips uploads, with a log line, where no artifact service is (act, local runs)', () => {
    expect(artifactServiceMissing({})).toMatch(/ACTIONS_RUNTIME_TOKEN/)
    expect(
      artifactServiceMissing({
        ACTIONS_RUNTIME_TOKEN: 'fake-runtime-token',
        ACTIONS_RESULTS_URL: 'x'
      })
    ).toMatch(/no artifact scope/)
    const logger = memoryLogger()
    expect(
      logUploader({ issueNumber: 3, logger, stagingDir: '/nonexistent', env: {} })
    ).toBeUndefined()
    expect(logger.lines.join('\n')).toMatch(/Task logs are not uploaded as artifacts/)
    expect(
      artifactServiceMissing({
        ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken(),
        ACTIONS_RESULTS_URL: 'x',
        GITHUB_RUN_ID: '1',
        GITHUB_REPOSITORY: 'o/r'
      })
    ).toBeUndefined()
  })
})

describe('final report rows', () => {
  it('link to the branch when it holds work and to the log when uploaded; durations read as said', () => {
    const report = renderReport(
      {
        baseBranch: 'main',
        baseSha: 'a'.repeat(40),
        integrationBranch: 'fanout/issue-3/integration',
        integrationSha: 'b'.repeat(40),
        tasks: [
          {
            ...result('T1', 'merged', T0, T0 + 72_000),
            commit: 'c'.repeat(40),
            logUrl: 'https://github.com/o/r/actions/runs/1/artifacts/5'
          },
          { ...result('T2', 'no-changes', T0, T0 + 3000) }
        ]
      },
      { issueNumber: 3, branchUrl: (b) => `https://github.com/o/r/tree/${b}` }
    )
    const rows = tableRows(report)
    expect(rows[0]).toEqual(['Task', 'Title', 'Status', 'Duration', 'Files changed', 'Links'])
    expect(rows[1].slice(3)).toEqual(['1 min 12 s', '0', 'branch · log'])
    expect(rows[2].slice(3)).toEqual(['3.0 s', '0', '–'])
    expect(report).toContain(
      '[branch](https://github.com/o/r/tree/fanout/issue-3/T1) · [log](https://github.com/o/r/actions/runs/1/artifacts/5)'
    )
  })
})
