// The bundled action (dist/index.js) run as the Actions runner runs it: Node 24, INPUT_* with
// action.yml defaults, an event file, file commands, a shallow checkout of a bare origin, and the
// GitHub REST API served by a local stand-in.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { FakeGitHub } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  commitToOrigin,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  simulateCheckoutCredentials,
  tempDir,
  type Origin
} from '../../test-support/git-fixtures.js'
import { runAction, type RunActionResult } from '../../test-support/run-action.js'

const servers: FakeGitHub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

const FILES = {
  'README.md': '# Demo\n\nStatus: draft\n',
  'src/a.txt': 'one\ntwo\nthree\n'
}

interface World {
  origin: Origin
  api: FakeGitHub
  workspace: string
  scratch: string
  env: NodeJS.ProcessEnv
}

async function world(issueBody: string, opts: { title?: string } = {}): Promise<World> {
  const origin = await createOrigin(FILES, { commits: 2 })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({
    number: 12,
    title: opts.title ?? 'Polish the demo',
    body: issueBody,
    user: { login: 'author' }
  })
  api.setPermission('maintainer', 'write')
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  return {
    origin,
    api,
    workspace,
    scratch: await tempDir('e2e-scratch'),
    env: isolatedGitEnv(origin.home)
  }
}

function labeledEvent(w: World, sender = 'maintainer'): { eventName: string; payload: object } {
  const issue = w.api.issues.get(12)!
  return {
    eventName: 'issues',
    payload: {
      action: 'labeled',
      label: { name: 'agents' },
      issue: { number: 12, title: issue.title, body: issue.body, user: { login: 'author' } },
      repository: { name: w.api.repo, owner: { login: w.api.owner }, default_branch: 'main' },
      sender: { login: sender, type: 'User' }
    }
  }
}

async function act(
  w: World,
  agent: string,
  extra: {
    inputs?: Record<string, string>
    sender?: string
    runnerTemp?: string
    env?: Record<string, string>
  } = {}
): Promise<RunActionResult> {
  const event = labeledEvent(w, extra.sender)
  return runAction({
    workspace: w.workspace,
    inputs: { 'agent-command': agent, ...extra.inputs },
    eventName: event.eventName,
    payload: event.payload,
    api: w.api,
    actor: extra.sender ?? 'maintainer',
    runnerTemp: extra.runnerTemp,
    env: { SCRATCH: w.scratch, ...extra.env }
  })
}

const originRef = async (w: World, ref: string): Promise<string> =>
  git(w.origin.bareDir, ['rev-parse', '--verify', '--quiet', `refs/heads/${ref}`], w.env).catch(
    () => ''
  )

describe('agent-fanout action, end to end', () => {
  it('merges every task into one pull request and reports on the issue', async () => {
    const w = await world(
      'Tasks:\n\n- [ ] Add one\n- [ ] Add two\n- [x] Done before\n- [ ] Add three\n'
    )
    const r = await act(w, 'echo "$TASK_TITLE" > "$TASK_ID.txt"')
    expect(r.stderr).toBe('')
    expect(r.exitCode).toBe(0)

    expect(w.api.pulls).toHaveLength(1)
    const pr = w.api.pulls[0]
    expect(pr).toMatchObject({
      head: 'fanout/issue-12/integration',
      base: 'main',
      title: 'Polish the demo',
      draft: false
    })
    expect(pr.body).toContain('Closes #12')
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '-r', '--name-only', 'fanout/issue-12/integration'],
      w.env
    )
    expect(files.split('\n')).toEqual(expect.arrayContaining(['T1.txt', 'T2.txt', 'T4.txt']))

    const comments = w.api.comments.filter((c) => c.issue_number === 12)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain('<!-- agent-fanout:status issue=12 -->')
    expect(comments[0].body).toContain('| T2 | Add two | ✅ merged |')
    expect(comments[0].body).toContain('| T3 | Done before | ⏭️ skipped |')
    expect(comments[0].body).toContain(`#${pr.number}`)

    const tasks = JSON.parse(r.outputs.tasks) as {
      id: string
      status: string
      branch: string
      changedFiles: string[]
      durationMs: number
      title: string
    }[]
    expect(tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'skipped'],
      ['T4', 'merged']
    ])
    expect(tasks[0]).toMatchObject({
      title: 'Add one',
      branch: 'fanout/issue-12/T1',
      changedFiles: ['T1.txt']
    })
    expect(typeof tasks[0].durationMs).toBe('number')
    expect(JSON.parse(r.outputs['merged-tasks'])).toEqual(['T1', 'T2', 'T4'])
    expect(JSON.parse(r.outputs['failed-tasks'])).toEqual([])
    expect(r.outputs['integration-branch']).toBe('fanout/issue-12/integration')
    expect(r.outputs['pull-request-number']).toBe(String(pr.number))
    expect(r.outputs['pull-request-url']).toBe(pr.html_url)
    expect(r.outputs['status-comment-id']).toBe(String(comments[0].id))
    expect(r.summary).toContain('| T4 | Add three | ✅ merged |')
    expect(r.stdout).toContain('::group::')
    expect(r.stdout).toMatch(/\[T2\] started: Add two/)
    // No worktree is left in the workspace.
    expect(
      (await git(w.workspace, ['worktree', 'list', '--porcelain'], w.env)).match(/^worktree /gm)
    ).toHaveLength(1)
  })

  it('opens the pull request with the rest when a task conflicts, and reports the conflict on the issue', async () => {
    const w = await world('- [ ] Make it stable\n- [ ] Make it beta\n- [ ] Another file\n')
    const agent = [
      'case "$TASK_ID" in',
      '  T1) sed -i "s/Status: draft/Status: stable/" README.md ;;',
      '  T2) sed -i "s/Status: draft/Status: beta/" README.md ;;',
      '  T3) echo four >> src/a.txt ;;',
      'esac'
    ].join('\n')
    const r = await act(w, agent)
    expect(r.exitCode).toBe(1) // fail-on defaults to failed,conflicted
    expect(r.errors.join('\n')).toMatch(/T2 conflicted/)
    expect(JSON.parse(r.outputs['conflicted-tasks'])).toEqual(['T2'])
    expect(JSON.parse(r.outputs['merged-tasks'])).toEqual(['T1', 'T3'])

    expect(w.api.pulls).toHaveLength(1)
    expect(w.api.pulls[0].body).not.toContain('Closes #12')
    expect(w.api.pulls[0].body).toContain('Refs #12')
    const comment = w.api.comments.find((c) => c.issue_number === 12)!
    expect(comment.body).toContain('⚠️ T2: Make it beta')
    expect(comment.body).toContain('`README.md`')
    expect(comment.body).toContain('Status: beta')
    expect(comment.body).toContain('`fanout/issue-12/T2`')
    // The conflicted task's work is on a pushed branch; the integration branch has the others.
    expect(await git(w.origin.bareDir, ['show', 'fanout/issue-12/T2:README.md'], w.env)).toContain(
      'Status: beta'
    )
    expect(
      await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:README.md'], w.env)
    ).toContain('Status: stable')
  })

  it('updates the same branches, pull request and status comment on a rerun', async () => {
    const w = await world('- [ ] First\n- [ ] Second\n')
    const first = await act(w, 'echo "run one $TASK_ID" > "$TASK_ID.txt"')
    expect(first.exitCode).toBe(0)
    const tipBefore = await originRef(w, 'fanout/issue-12/integration')
    const t1Before = await originRef(w, 'fanout/issue-12/T1')
    // The first task's text changes, so its agent runs again; the second is reused as it was.
    w.api.issues.get(12)!.body = '- [ ] First, reworded\n- [ ] Second\n'
    const second = await act(w, 'echo "run two $TASK_ID" > "$TASK_ID.txt"')
    expect(second.exitCode).toBe(0)

    expect(w.api.pulls).toHaveLength(1)
    expect(w.api.comments.filter((c) => c.issue_number === 12)).toHaveLength(1)
    expect(second.outputs['pull-request-number']).toBe(first.outputs['pull-request-number'])
    expect(second.outputs['status-comment-id']).toBe(first.outputs['status-comment-id'])
    // The second run edits the first run's comment (live, then its report), never another.
    const edited = w.api.requestsMatching('PATCH', /\/issues\/comments\/\d+$/)
    expect(new Set(edited.map((q) => q.path))).toEqual(
      new Set([`/repos/octo-org/demo/issues/comments/${first.outputs['status-comment-id']}`])
    )
    expect(w.api.requestsMatching('POST', /\/issues\/12\/comments$/)).toHaveLength(1)
    expect(w.api.requestsMatching('PATCH', /\/pulls\/\d+$/)).toHaveLength(1)
    const tipAfter = await originRef(w, 'fanout/issue-12/integration')
    expect(tipAfter).not.toBe(tipBefore)
    expect(await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:T1.txt'], w.env)).toBe(
      'run two T1'
    )
    expect(await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:T2.txt'], w.env)).toBe(
      'run one T2'
    )
    // The task branch was moved (force-with-lease) to the new work.
    expect(await originRef(w, 'fanout/issue-12/T1')).not.toBe(t1Before)
  })

  it('hands a hostile title to the agent literally and executes none of it', async () => {
    const pwned = path.join(await tempDir('pwned'), 'pwned')
    const title = `Fix $(touch ${pwned}) and \`touch ${pwned}\` "quoted" 'single'`
    const w = await world(`- [ ] ${title}\n`, { title: `Issue $(touch ${pwned})` })
    const r = await act(
      w,
      'printf "%s" "$TASK_TITLE" > title.txt; printf "%s" "$ISSUE_TITLE" > issue-title.txt'
    )
    expect(r.exitCode).toBe(0)
    expect(
      await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:title.txt'], w.env)
    ).toBe(title)
    expect(
      await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:issue-title.txt'], w.env)
    ).toBe(`Issue $(touch ${pwned})`)
    expect(existsSync(pwned)).toBe(false)
  })

  it('keeps the token out of reach of agents: not in env, not in git config, not in the credentials file', async () => {
    const w = await world('- [ ] Hunt for the token\n')
    const runnerTemp = await tempDir('runner-temp')
    const { credentialsFile } = await simulateCheckoutCredentials(
      w.workspace,
      runnerTemp,
      w.api.token
    )
    const configBefore = await readFile(path.join(w.workspace, '.git', 'config'))
    const credentialsBefore = await readFile(credentialsFile)
    const hunt = [
      'env > "$SCRATCH/env.txt"',
      'git config --list --show-origin > "$SCRATCH/config.txt" 2>&1',
      'cat "$RUNNER_TEMP"/git-credentials-* > "$SCRATCH/files.txt" 2>&1',
      'echo found > hunt.txt'
    ].join('; ')
    const r = await act(w, hunt, { runnerTemp })
    expect(r.exitCode).toBe(0)
    const basic = Buffer.from(`x-access-token:${w.api.token}`).toString('base64')
    for (const file of ['env.txt', 'config.txt', 'files.txt']) {
      const text = await readFile(path.join(w.scratch, file), 'utf8')
      expect(text).not.toContain(w.api.token)
      expect(text).not.toContain(basic)
    }
    const env = await readFile(path.join(w.scratch, 'env.txt'), 'utf8')
    expect(env).not.toMatch(/^INPUT_/m)
    expect(env).not.toMatch(/^ACTIONS_RUNTIME_TOKEN=/m)
    expect(env).not.toMatch(/^ACTIONS_ID_TOKEN_REQUEST_/m)
    expect(env).toMatch(/^RUNNER_TRACKING_ID=github_/m)
    // Afterwards the workspace is as the action found it, so later steps can still push.
    expect(await readFile(path.join(w.workspace, '.git', 'config'))).toEqual(configBefore)
    expect(await readFile(credentialsFile)).toEqual(credentialsBefore)
  })

  it('refuses an actor without write permission, and starts nothing', async () => {
    const w = await world('- [ ] Anything\n')
    w.api.setPermission('drive-by', 'read')
    const r = await act(w, 'echo ran > "$SCRATCH/ran"', { sender: 'drive-by' })
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/::warning::.*drive-by.*"read" permission/)
    expect(existsSync(path.join(w.scratch, 'ran'))).toBe(false)
    expect(w.api.comments).toHaveLength(0)
    expect(w.api.pulls).toHaveLength(0)
    expect(await originRef(w, 'fanout/issue-12/integration')).toBe('')
  })

  it('explains the expected syntax when the issue has no open task, and creates nothing', async () => {
    const w = await world('Just prose.\n\n- a plain bullet\n- [x] already done\n')
    const r = await act(w, 'echo ran > "$SCRATCH/ran"')
    expect(r.exitCode).toBe(0)
    const comment = w.api.comments.find((c) => c.issue_number === 12)!
    expect(comment.body).toMatch(/No open tasks/)
    expect(comment.body).toContain('- [ ] ')
    expect(r.summary).toMatch(/No open tasks/)
    expect(existsSync(path.join(w.scratch, 'ran'))).toBe(false)
    expect(w.api.pulls).toHaveLength(0)
  })

  it('refuses more tasks than max-tasks with a clear message before starting anything', async () => {
    const w = await world(Array.from({ length: 5 }, (_, i) => `- [ ] task ${i}`).join('\n'))
    const r = await act(w, 'echo ran > "$SCRATCH/ran-$TASK_ID"', { inputs: { 'max-tasks': '3' } })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toMatch(/5 open tasks, more than max-tasks \(3\)/)
    expect(await readdir(w.scratch)).toEqual([])
    expect(await originRef(w, 'fanout/issue-12/integration')).toBe('')
  })

  it('takes a referenced issue as the task, starts from the latest base, and honours draft', async () => {
    const w = await world('- [ ] #5\n- [ ] Local task\n')
    w.api.addIssue({
      number: 5,
      title: 'Support dark mode',
      body: 'Use the `prefers-color-scheme` media query.',
      user: { login: 'author' }
    })
    // The base branch moves after the workspace was checked out.
    await commitToOrigin(w.origin, { 'late.txt': 'pushed after checkout\n' }, 'Late commit')
    const r = await act(w, 'printf "%s\\n%s" "$TASK_TITLE" "$TASK_BODY" > "$TASK_ID.txt"', {
      inputs: { draft: 'true' }
    })
    expect(r.exitCode).toBe(0)
    const t1 = await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:T1.txt'], w.env)
    expect(t1).toMatch(/^Support dark mode\n/)
    expect(t1).toContain('Use the `prefers-color-scheme` media query.')
    expect(
      await git(w.origin.bareDir, ['show', 'fanout/issue-12/integration:late.txt'], w.env)
    ).toBe('pushed after checkout')
    expect(w.api.pulls[0].draft).toBe(true)
    expect(JSON.parse(r.outputs.tasks)[0].title).toBe('Support dark mode')
  })

  it('names the missing input when workflow_dispatch has no issue-number', async () => {
    const w = await world('- [ ] x\n')
    const r = await runAction({
      workspace: w.workspace,
      inputs: { 'agent-command': 'true' },
      eventName: 'workflow_dispatch',
      payload: {
        inputs: {},
        repository: { default_branch: 'main' },
        sender: { login: 'maintainer' }
      },
      api: w.api
    })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toMatch(/set the issue-number input/)
  })
})
