// The status comment while the bundled action runs (dist/index.js, the GitHub stand-in recording
// every write with the time it arrived): it is there before any agent starts, edited as tasks
// finish, and replaced by the final report after the last agent; rows link to branches and to
// the logs uploaded to the artifact service's stand-in; done tasks are ticked in the issue, with
// a person's edit made during the run kept; the job summary draws the run as a gantt chart.
// Order is asserted against the agents' own start and end marks, never against wall-clock limits.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { FakeArtifacts } from '../../test-support/fake-artifacts.js'
import { FakeGitHub, type RecordedRequest } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import { parseMarkdown, allNodes } from '../../test-support/markdown-structure.js'
import { runAction } from '../../test-support/run-action.js'

const stops: { stop(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(stops.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

const MARKER = '<!-- agent-fanout:status issue=12 -->'

// Each agent marks its start and end (ms since the epoch) in the scratch folder, prints a line
// for its log, sleeps a little (T3 longest) and writes a file.
const AGENT = [
  'date +%s%3N > "$SCRATCH/$TASK_ID.start"',
  'echo "log line from $TASK_ID"',
  'case "$TASK_ID" in T1) sleep 0.3;; T2) sleep 1.5;; *) sleep 3;; esac',
  'echo "$TASK_TITLE" > "$TASK_ID.txt"',
  'date +%s%3N > "$SCRATCH/$TASK_ID.end"'
].join('\n')

/** Writes of the status comment (its creation and its edits), in the order they arrived. */
function statusWrites(api: FakeGitHub): RecordedRequest[] {
  return api.requests.filter(
    (r) =>
      (r.method === 'POST' && /\/issues\/12\/comments$/.test(r.path)) ||
      (r.method === 'PATCH' && /\/issues\/comments\/\d+$/.test(r.path))
  )
}

const bodyOf = (r: RecordedRequest): string => (r.body as { body: string }).body

/** The status cell of a task's row in a status body. */
function rowStatus(body: string, id: string): string | undefined {
  const table = allNodes(parseMarkdown(body)).find((n) => n.type === 'table')
  if (!table || table.type !== 'table') return undefined
  const row = table.children.find((r) =>
    allNodes(r.children[0]).some((n) => 'value' in n && n.value === id)
  )
  return row
    ? allNodes(row.children[2])
        .map((n) => ('value' in n ? n.value : ''))
        .join('')
    : undefined
}

async function mark(scratch: string, file: string): Promise<number> {
  return Number((await readFile(path.join(scratch, file), 'utf8')).trim())
}

describe('live status comment, end to end', () => {
  it('is posted before any agent starts, edited as tasks finish, and ends with the final report', async () => {
    const origin = await createOrigin({ 'README.md': '# Demo\n' })
    const api = await FakeGitHub.start({ originDir: origin.bareDir })
    const artifacts = await FakeArtifacts.start()
    stops.push(api, artifacts)
    const issueBody = 'Tasks:\r\n\r\n- [ ] Add one\r\n- [ ] Add two\r\n- [ ] Add three\r\n'
    api.addIssue({ number: 12, title: 'Live', body: issueBody, user: { login: 'author' } })
    api.setPermission('maintainer', 'write')
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const scratch = await tempDir('live-scratch')

    // A person edits the issue while the agents work: the edit must survive the ticking.
    const personEdit = (async () => {
      for (let i = 0; i < 600; i++) {
        const started = await readFile(path.join(scratch, 'T1.end'), 'utf8').catch(() => '')
        if (started) break
        await new Promise((r) => setTimeout(r, 50))
      }
      const issue = api.issues.get(12)!
      issue.body = `${issue.body}\r\nNote from a person, added while agents ran.\r\n`
    })()

    const r = await runAction({
      workspace,
      inputs: { 'agent-command': AGENT },
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 12, title: 'Live', body: issueBody, user: { login: 'author' } },
        repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
        sender: { login: 'maintainer', type: 'User' }
      },
      api,
      env: { SCRATCH: scratch, ...artifacts.env() }
    })
    await personEdit
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)

    const ids = ['T1', 'T2', 'T3']
    const starts = await Promise.all(ids.map((id) => mark(scratch, `${id}.start`)))
    const ends = await Promise.all(ids.map((id) => mark(scratch, `${id}.end`)))
    const writes = statusWrites(api)
    // One comment, created once and edited after.
    expect(writes.filter((w) => w.method === 'POST')).toHaveLength(1)
    expect(api.comments.filter((c) => c.issue_number === 12)).toHaveLength(1)
    expect(writes.every((w) => bodyOf(w).startsWith(MARKER))).toBe(true)

    // First: before any agent started, every task queued, with a link to the run.
    const first = writes[0]
    expect(first.at).toBeLessThan(Math.min(...starts))
    expect(ids.map((id) => rowStatus(bodyOf(first), id))).toEqual([
      '⏳ queued',
      '⏳ queued',
      '⏳ queued'
    ])
    expect(bodyOf(first)).toContain('(https://github.com/octo-org/demo/actions/runs/9876543210)')

    // Each finish is followed by an edit showing that task done: a live edit (coalesced), or,
    // when the last agents end within one pacing interval of the final report, that report.
    const live = writes.filter((w) => bodyOf(w).includes('### agent-fanout: running'))
    ids.forEach((id, i) => {
      const after = writes.filter((w) => w.at >= ends[i])
      expect(after.some((w) => !/queued|running/.test(rowStatus(bodyOf(w), id) ?? ''))).toBe(true)
    })
    // Paced: GitHub asks for a second between writes; live edits are at least that far apart.
    for (let i = 1; i < live.length; i++)
      expect(live[i].at - live[i - 1].at).toBeGreaterThanOrEqual(900)

    // Last: the final report, after the last agent ended.
    const final = writes.at(-1)!
    expect(final.at).toBeGreaterThan(Math.max(...ends))
    expect(bodyOf(final)).toContain('Pull request: #')
    expect(api.comments.find((c) => c.issue_number === 12)!.body).toBe(bodyOf(final))

    // Rows link to the branches on the repository and to the uploaded logs.
    expect(artifacts.artifacts.map((a) => a.name).sort()).toEqual(
      ids.map((id) => `agent-fanout-log-12-${id}-attempt-1.txt`)
    )
    for (const a of artifacts.artifacts) {
      const id = /-(T\d)-/.exec(a.name)![1]
      expect(a.content.toString()).toContain(`log line from ${id}`)
      expect(bodyOf(final)).toContain(
        `[log](https://github.com/octo-org/demo/actions/runs/9876543210/artifacts/${a.id})`
      )
    }
    expect(bodyOf(final)).toContain(
      '[branch](https://github.com/octo-org/demo/tree/fanout/issue-12/T2)'
    )

    // The boxes are ticked; the person's note and the CRLF line endings are kept.
    expect(api.issues.get(12)!.body).toBe(
      'Tasks:\r\n\r\n- [x] Add one\r\n- [x] Add two\r\n- [x] Add three\r\n\r\nNote from a person, added while agents ran.\r\n'
    )

    // The job summary draws the run: one bar per task, tagged done.
    for (const [i, id] of ids.entries())
      expect(r.summary).toMatch(
        new RegExp(`\\n {2}${id} Add \\w+ \\(merged\\) :done, t${i + 1}, \\d+, \\d+\\n`)
      )
    expect(r.summary).toContain('```mermaid\ngantt\n')
  })

  it('leaves the boxes alone with tick-boxes: false', async () => {
    const origin = await createOrigin({ 'README.md': '# Demo\n' })
    const api = await FakeGitHub.start({ originDir: origin.bareDir })
    stops.push(api)
    const issueBody = '- [ ] Add one\n'
    api.addIssue({ number: 12, title: 'Live', body: issueBody, user: { login: 'author' } })
    api.setPermission('maintainer', 'write')
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const r = await runAction({
      workspace,
      inputs: { 'agent-command': 'echo x > "$TASK_ID.txt"', 'tick-boxes': 'false' },
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 12, title: 'Live', body: issueBody, user: { login: 'author' } },
        repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
        sender: { login: 'maintainer', type: 'User' }
      },
      api
    })
    expect(r.exitCode).toBe(0)
    expect(api.pulls).toHaveLength(1)
    expect(api.issues.get(12)!.body).toBe(issueBody)
    expect(api.requestsMatching('PATCH', /\/issues\/12$/)).toHaveLength(0)
    // No artifact service here (the runner-like env has a fake token): said, not failed.
    expect(r.stdout).toMatch(/Task logs are not uploaded as artifacts/)
  })

  it('keeps a task it ticked in the pull request when the issue runs again', async () => {
    const origin = await createOrigin({ 'README.md': '# Demo\n' })
    const api = await FakeGitHub.start({ originDir: origin.bareDir })
    stops.push(api)
    api.addIssue({
      number: 12,
      title: 'Twice',
      body: '- [ ] Add one\n- [ ] Add two\n',
      user: { login: 'author' }
    })
    api.setPermission('maintainer', 'write')
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const scratch = await tempDir('carry-scratch')
    // Each start is counted; T2 fails while $SCRATCH/fail exists.
    const agent = [
      'echo x >> "$SCRATCH/$TASK_ID.starts"',
      'if [ "$TASK_ID" = T2 ] && [ -e "$SCRATCH/fail" ]; then exit 1; fi',
      'echo "$TASK_TITLE" > "$TASK_ID.txt"'
    ].join('\n')
    const run = () => {
      const body = api.issues.get(12)!.body
      return runAction({
        workspace,
        inputs: { 'agent-command': agent },
        eventName: 'issues',
        payload: {
          action: 'labeled',
          label: { name: 'agents' },
          issue: { number: 12, title: 'Twice', body, user: { login: 'author' } },
          repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
          sender: { login: 'maintainer', type: 'User' }
        },
        api,
        env: { SCRATCH: scratch }
      })
    }
    await writeFile(path.join(scratch, 'fail'), '')
    const first = await run()
    expect(first.exitCode).toBe(1)
    expect(api.issues.get(12)!.body).toBe('- [x] Add one\n- [ ] Add two\n')

    await rm(path.join(scratch, 'fail'))
    const second = await run()
    expect(second.exitCode).toBe(0)
    // T1's agent did not start again, yet its work is still in the pull request's branch.
    expect(await readFile(path.join(scratch, 'T1.starts'), 'utf8')).toBe('x\n')
    const env = isolatedGitEnv(origin.home)
    const files = await git(
      origin.bareDir,
      ['ls-tree', '-r', '--name-only', 'fanout/issue-12/integration'],
      env
    )
    expect(files.split('\n').sort()).toEqual(['README.md', 'T1.txt', 'T2.txt'])
    expect(api.issues.get(12)!.body).toBe('- [x] Add one\n- [x] Add two\n')
    const report = api.comments.find((c) => c.issue_number === 12)!.body
    expect(rowStatus(report, 'T1')).toBe('✅ merged')
    expect(rowStatus(report, 'T2')).toBe('✅ merged')
    expect(api.pulls[0].body).toContain('Closes #12')
  })

  it('matrix: a task job shows its row running while its agent works, then done with its log; the merge job reports', async () => {
    const origin = await createOrigin({ 'README.md': '# Demo\n' })
    const api = await FakeGitHub.start({ originDir: origin.bareDir })
    const artifacts = await FakeArtifacts.start()
    stops.push(api, artifacts)
    const body = '- [ ] Add one\n- [ ] Add two\n'
    api.addIssue({ number: 12, title: 'Matrix', body, user: { login: 'author' } })
    api.setPermission('maintainer', 'write')
    const scratch = await tempDir('matrix-live')
    // The agent waits (30 s at most) until the test has seen its row running.
    const agent = [
      'touch "$SCRATCH/$TASK_ID.start"',
      'for i in $(seq 300); do [ -e "$SCRATCH/$TASK_ID.go" ] && break; sleep 0.1; done',
      'echo "log of $TASK_ID"',
      'echo "$TASK_TITLE" > "$TASK_ID.txt"'
    ].join('\n')
    const job = async (inputs: Record<string, string>) =>
      runAction({
        workspace: await cloneWorkspace(origin, { depth: 1, dir: await tempDir('runner') }),
        inputs: { 'agent-command': agent, ...inputs },
        eventName: 'issues',
        payload: {
          action: 'labeled',
          label: { name: 'agents' },
          issue: { number: 12, title: 'Matrix', body, user: { login: 'author' } },
          repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
          sender: { login: 'maintainer', type: 'User' }
        },
        api,
        env: { SCRATCH: scratch, ...artifacts.env() },
        timeoutMs: 120_000
      })
    const comment = () => api.comments.find((c) => c.issue_number === 12)?.body ?? ''
    const plan = await job({ mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)
    expect(rowStatus(comment(), 'T1')).toBe('⏳ queued')

    const seen: string[] = []
    const watch = (async () => {
      for (let i = 0; i < 600; i++) {
        const started = await readFile(path.join(scratch, 'T1.start'), 'utf8').then(
          () => true,
          () => false
        )
        if (started && /running/.test(rowStatus(comment(), 'T1') ?? '')) break
        await new Promise((r) => setTimeout(r, 50))
      }
      seen.push(rowStatus(comment(), 'T1') ?? '', rowStatus(comment(), 'T2') ?? '')
      await writeFile(path.join(scratch, 'T1.go'), '')
      await writeFile(path.join(scratch, 'T2.go'), '')
    })()
    const t1 = await job({ mode: 'task', 'task-id': 'T1', 'issue-number': '12' })
    await watch
    expect(t1.exitCode).toBe(0)
    expect(seen[0]).toMatch(/^🏃 running since \d\d:\d\d:\d\d UTC$/)
    expect(seen[1]).toBe('⏳ queued')
    // Done: its row says so, with its duration and its log.
    expect(rowStatus(comment(), 'T1')).toBe('📦 done, waiting for the merge job')
    const [log] = artifacts.artifacts
    expect(log.name).toBe('agent-fanout-log-12-T1-attempt-1.txt')
    expect(log.content.toString()).toContain('log of T1')
    const logLink = `[log](https://github.com/octo-org/demo/actions/runs/9876543210/artifacts/${log.id})`
    expect(comment()).toContain(logLink)
    expect(comment()).toContain(
      '[branch](https://github.com/octo-org/demo/tree/fanout/issue-12/T1)'
    )

    const t2 = await job({ mode: 'task', 'task-id': 'T2', 'issue-number': '12' })
    expect(t2.exitCode).toBe(0)
    const merge = await job({ mode: 'merge', 'issue-number': '12' })
    expect(merge.exitCode).toBe(0)
    expect(comment()).toContain('Pull request: #')
    expect(rowStatus(comment(), 'T1')).toBe('✅ merged')
    expect(comment()).toContain(logLink)
    expect(api.issues.get(12)!.body).toBe('- [x] Add one\n- [x] Add two\n')
    expect(merge.summary).toMatch(/\n {2}T1 Add one \(merged\) :done, t1, \d+, \d+\n/)
  })
})
