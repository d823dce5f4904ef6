// Reruns that redo only what is unfinished, /fanout comment commands, conflict strategies and
// verify, all through the bundled dist/index.js and the local GitHub API stand-in.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
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

interface World {
  origin: Origin
  api: FakeGitHub
  scratch: string
  env: NodeJS.ProcessEnv
}

async function world(body: string): Promise<World> {
  const origin = await createOrigin({
    'NOTES.md': '# Notes\n\nEntries:\n\nend\n',
    'check.sh': 'exit 0\n'
  })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({ number: 12, title: 'Many tasks', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return { origin, api, scratch: await tempDir('cmd-scratch'), env: isolatedGitEnv(origin.home) }
}

const repository = (w: World) => ({
  name: w.api.repo,
  owner: { login: w.api.owner },
  default_branch: 'main'
})

/** Every run gets a fresh shallow checkout, as a fresh runner would. */
async function label(
  w: World,
  agent: string,
  inputs: Record<string, string> = {}
): Promise<RunActionResult> {
  const issue = w.api.issues.get(12)!
  return runAction({
    workspace: await cloneWorkspace(w.origin, { depth: 1 }),
    inputs: { 'agent-command': agent, ...inputs },
    eventName: 'issues',
    payload: {
      action: 'labeled',
      label: { name: 'agents' },
      issue: { number: 12, title: issue.title, body: issue.body },
      repository: repository(w),
      sender: { login: 'maintainer', type: 'User' }
    },
    api: w.api,
    env: { SCRATCH: w.scratch }
  })
}

async function comment(
  w: World,
  text: string,
  agent: string,
  commenter = 'maintainer'
): Promise<{ r: RunActionResult; commentId: number }> {
  const issue = w.api.issues.get(12)!
  const c = w.api.addComment(12, text, { login: commenter, type: 'User' })
  const r = await runAction({
    workspace: await cloneWorkspace(w.origin, { depth: 1 }),
    inputs: { 'agent-command': agent },
    eventName: 'issue_comment',
    payload: {
      action: 'created',
      issue: { number: 12, title: issue.title, body: issue.body },
      comment: { id: c.id, body: text, user: { login: commenter, type: 'User' } },
      repository: repository(w),
      sender: { login: commenter, type: 'User' }
    },
    api: w.api,
    actor: commenter,
    env: { SCRATCH: w.scratch }
  })
  return { r, commentId: c.id }
}

// Records each start; fails while $SCRATCH/fail-<id> exists.
const AGENT =
  'echo "$TASK_MODE" >> "$SCRATCH/starts-$TASK_ID"; if [ -e "$SCRATCH/fail-$TASK_ID" ]; then exit 3; fi; echo "$TASK_TITLE" > "$TASK_ID.txt"'
const starts = async (w: World, id: string): Promise<number> =>
  existsSync(path.join(w.scratch, `starts-${id}`))
    ? (await readFile(path.join(w.scratch, `starts-${id}`), 'utf8')).trim().split('\n').length
    : 0
const statuses = (r: RunActionResult): [string, string][] =>
  (JSON.parse(r.outputs.tasks) as { id: string; status: string }[]).map((t) => [t.id, t.status])
const statusComments = (w: World) =>
  w.api.comments.filter((c) => c.body.includes('<!-- agent-fanout:status issue=12 -->'))
const remoteHas = (w: World, branch: string) =>
  git(w.origin.bareDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], w.env).then(
    () => true,
    () => false
  )

describe('reruns', () => {
  it('re-runs only the failed task, and the changed one, and rebuilds the integration branch', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n- [ ] gamma\n')
    await import('node:fs/promises').then((fs) => fs.writeFile(path.join(w.scratch, 'fail-T2'), ''))
    const first = await label(w, AGENT)
    expect(statuses(first)).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed'],
      ['T3', 'merged']
    ])
    expect(await remoteHas(w, 'fanout/issue-12/T2')).toBe(false)

    // T2 can succeed now; T3's text changes; T1 stays as it was.
    await import('node:fs/promises').then((fs) => fs.rm(path.join(w.scratch, 'fail-T2')))
    w.api.issues.get(12)!.body =
      '- [ ] alpha\n- [ ] beta\n- [ ] gamma, but louder\n- [ ] delta, new\n'
    const second = await label(w, AGENT)
    expect(second.exitCode).toBe(0)
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged'],
      ['T4', 'merged']
    ])
    expect(await starts(w, 'T4')).toBe(1) // the new task
    expect(await starts(w, 'T1')).toBe(1) // not started again
    expect(await starts(w, 'T2')).toBe(2)
    expect(await starts(w, 'T3')).toBe(2)
    expect(JSON.parse(second.outputs.tasks)[0].reused).toBe(true)
    const show = (f: string) =>
      git(w.origin.bareDir, ['show', `fanout/issue-12/integration:${f}`], w.env)
    expect(await show('T1.txt')).toBe('alpha')
    expect(await show('T2.txt')).toBe('beta')
    expect(await show('T3.txt')).toBe('gamma, but louder')
    expect(statusComments(w)).toHaveLength(1)
    expect(w.api.pulls).toHaveLength(1)
  })
})

describe('recorded state survives a refused run', () => {
  it('a run refused because the text changed after the label does not make the next run forget finished tasks', async () => {
    const w = await world('- [ ] alpha\n')
    await label(w, AGENT)
    // A label event whose text no longer matches the issue: refused, status comment rewritten.
    const stale = w.api.issues.get(12)!.body
    w.api.editIssueBody(12, '- [ ] alpha\n- [ ] beta\n')
    const refused = await runAction({
      workspace: await cloneWorkspace(w.origin, { depth: 1 }),
      inputs: { 'agent-command': AGENT },
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 12, title: 'Many tasks', body: stale },
        repository: repository(w),
        sender: { login: 'maintainer', type: 'User' }
      },
      api: w.api,
      env: { SCRATCH: w.scratch }
    })
    expect(refused.stdout).toMatch(/edited after maintainer triggered this run/)
    expect(statusComments(w)[0].body).toMatch(/nothing started/)
    // Approved again: alpha is still known as finished and is not started again.
    const again = await label(w, AGENT)
    expect(statuses(again)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(await starts(w, 'T1')).toBe(1)
    expect(await starts(w, 'T2')).toBe(1)
  })
})

describe('/fanout commands', () => {
  it('/fanout run reacts, runs what is unfinished and updates the status comment', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n')
    await label(w, AGENT)
    const { r, commentId } = await comment(w, '/fanout run', AGENT)
    expect(r.exitCode).toBe(0)
    expect(w.api.reactions).toContainEqual({ commentId, content: 'eyes' })
    expect(await starts(w, 'T1')).toBe(1)
    expect(statusComments(w)).toHaveLength(1)
  })

  it('/fanout retry re-runs the named task from scratch and nothing else', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n')
    await label(w, AGENT)
    const { r } = await comment(w, '/fanout retry T2', AGENT)
    expect(r.exitCode).toBe(0)
    expect(await starts(w, 'T1')).toBe(1)
    expect(await starts(w, 'T2')).toBe(2)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
  })

  it('/fanout retry of a task that now fails rolls it back: off the integration branch, its branch deleted', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n')
    await label(w, AGENT)
    expect(await remoteHas(w, 'fanout/issue-12/T2')).toBe(true)
    await import('node:fs/promises').then((fs) => fs.writeFile(path.join(w.scratch, 'fail-T2'), ''))
    const { r } = await comment(w, '/fanout retry T2', AGENT)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed']
    ])
    expect(await remoteHas(w, 'fanout/issue-12/T2')).toBe(false)
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '--name-only', 'fanout/issue-12/integration'],
      w.env
    )
    expect(files).not.toContain('T2.txt')
  })

  it('/fanout drop takes the task out of the integration branch and the pull request, keeping its branch', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n- [ ] gamma\n')
    await label(w, AGENT)
    const { r } = await comment(w, '/fanout drop T2', AGENT)
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'skipped'],
      ['T3', 'merged']
    ])
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 1])
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '--name-only', 'fanout/issue-12/integration'],
      w.env
    )
    expect(files.split('\n')).toEqual(expect.arrayContaining(['T1.txt', 'T3.txt']))
    expect(files).not.toContain('T2.txt')
    expect(await remoteHas(w, 'fanout/issue-12/T2')).toBe(true)
    expect(w.api.pulls[0].body).toContain('| T2 | beta | ⏭️ skipped |')
    expect(w.api.pulls[0].body).not.toContain('Closes #12')
    // Its box, ticked when it merged, is cleared: it is no longer on the integration branch.
    expect(w.api.issues.get(12)!.body).toBe('- [x] alpha\n- [ ] beta\n- [x] gamma\n')
    // A later /fanout run keeps it dropped.
    const again = await comment(w, '/fanout run', AGENT)
    expect(statuses(again.r)[1]).toEqual(['T2', 'skipped'])
  })

  it('/fanout status refreshes the status comment without starting any agent', async () => {
    const w = await world('- [ ] alpha\n')
    await label(w, AGENT)
    const before = w.api.requestsMatching('PATCH', /\/issues\/comments\/\d+$/).length
    const { r } = await comment(w, '/fanout status', AGENT)
    expect(r.exitCode).toBe(0)
    expect(await starts(w, 'T1')).toBe(1)
    expect(w.api.requestsMatching('PATCH', /\/issues\/comments\/\d+$/).length).toBe(before + 1)
    expect(statusComments(w)[0].body).toContain('| T1 | alpha | ✅ merged |')
    expect(statusComments(w)[0].body).toMatch(/Pull request: #\d+/)
  })

  it('answers an unknown command with a short help and runs nothing', async () => {
    const w = await world('- [ ] alpha\n')
    const { r } = await comment(w, '/fanout frobnicate', AGENT)
    expect(r.exitCode).toBe(0)
    expect(await starts(w, 'T1')).toBe(0)
    const reply = w.api.comments.find((c) => c.user.type === 'Bot')!
    expect(reply.body).toContain('Unknown command `/fanout frobnicate`')
    expect(reply.body).toContain('/fanout retry')
  })

  it('ignores comments that are not commands, and refuses commands from people without write access', async () => {
    const w = await world('- [ ] alpha\n')
    const chat = await comment(w, 'Looks good to me', AGENT)
    expect(chat.r.exitCode).toBe(0)
    w.api.setPermission('passer-by', 'read')
    const refused = await comment(w, '/fanout run', AGENT, 'passer-by')
    expect(refused.r.exitCode).toBe(0)
    expect(refused.r.stdout).toMatch(/::warning::.*passer-by.*"read" permission/)
    expect(await starts(w, 'T1')).toBe(0)
    expect(w.api.comments.filter((c) => c.user.type === 'Bot')).toHaveLength(0)
  })
})

describe('strategies and verify through the action inputs', () => {
  const ADD = 'sed -i "/^Entries:/a - $TASK_ID ($TASK_MODE)" NOTES.md'

  it('conflict-strategy rerun,report turns a conflict into merged-after-rerun', async () => {
    const w = await world('- [ ] one\n- [ ] two\n')
    const r = await label(w, ADD, { 'conflict-strategy': 'rerun, report' })
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-after-rerun']
    ])
    expect(JSON.parse(r.outputs['merged-tasks'])).toEqual(['T1', 'T2'])
    expect(w.api.pulls[0].body).toContain('Closes #12')
  })

  it('a resolve command that gives up leaves the conflict report saying what was tried', async () => {
    const w = await world('- [ ] one\n- [ ] two\n')
    const r = await label(w, ADD, {
      'conflict-strategy': 'agent,report',
      'resolve-command': 'exit 0'
    })
    expect(r.exitCode).toBe(1)
    const body = statusComments(w)[0].body
    expect(body).toContain('conflict markers remain in NOTES.md')
    expect(body).toContain('`report`')
  })

  it('verify: each reports broke-verify; verify: final puts the verdict on the pull request', async () => {
    const w = await world('- [ ] one\n- [ ] breaks\n')
    const agent =
      'echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T2 ]; then echo "exit 1" > check.sh; fi'
    const each = await label(w, agent, {
      'verify-command': 'bash check.sh',
      verify: 'each',
      'fail-on': 'failed,conflicted,broke-verify'
    })
    expect(each.exitCode).toBe(1)
    expect(statuses(each)).toEqual([
      ['T1', 'merged'],
      ['T2', 'broke-verify']
    ])
    expect(statusComments(w)[0].body).toContain('🧪 T2')
    expect(await remoteHas(w, 'fanout/issue-12/T2')).toBe(true)

    const w2 = await world('- [ ] one\n')
    const final = await label(w2, 'echo "$TASK_ID" > "$TASK_ID.txt"', {
      'verify-command': 'test -f T1.txt'
    })
    expect(final.exitCode).toBe(0)
    expect(final.outputs['verify-passed']).toBe('true')
    expect(w2.api.pulls[0].body).toMatch(/Verify \(final\): ✅/)
  })
})
