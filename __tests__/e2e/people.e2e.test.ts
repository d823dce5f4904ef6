// Humans in the loop keep their work: a person who follows the conflict report (fetch, switch,
// merge, fix, commit, push), or pushes onto a task branch, finds their commits still there after
// the next run; where keeping them is impossible the run stops before any agent starts.
// Through the bundled dist/index.js and the local GitHub API stand-in.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { FakeGitHub } from '../../test-support/fake-github.js'
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
import {
  nodeBinary,
  REPO_ROOT,
  runAction,
  type RunActionResult
} from '../../test-support/run-action.js'

const execFileAsync = promisify(execFile)
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

const NOTES = '# Notes\n\nEntries:\n\nSome text in between.\n\nend\n'

async function world(body: string): Promise<World> {
  const origin = await createOrigin({ 'NOTES.md': NOTES })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({ number: 12, title: 'Many tasks', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return { origin, api, scratch: await tempDir('people'), env: isolatedGitEnv(origin.home) }
}

const repository = (w: World) => ({
  name: w.api.repo,
  owner: { login: w.api.owner },
  default_branch: 'main'
})

/** The issue labelled; every run gets a fresh shallow checkout, as a fresh runner would. */
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
    env: { SCRATCH: w.scratch, GIT_CONFIG_NOSYSTEM: '1' }
  })
}

/** A `/fanout …` comment by a maintainer, and the run it triggers. */
async function comment(w: World, text: string, agent: string): Promise<RunActionResult> {
  const issue = w.api.issues.get(12)!
  const c = w.api.addComment(12, text, { login: 'maintainer', type: 'User' })
  return runAction({
    workspace: await cloneWorkspace(w.origin, { depth: 1 }),
    inputs: { 'agent-command': agent },
    eventName: 'issue_comment',
    payload: {
      action: 'created',
      issue: { number: 12, title: issue.title, body: issue.body },
      comment: { id: c.id, body: text, user: { login: 'maintainer', type: 'User' } },
      repository: repository(w),
      sender: { login: 'maintainer', type: 'User' }
    },
    api: w.api,
    actor: 'maintainer',
    env: { SCRATCH: w.scratch }
  })
}

// Records each start; fails while $SCRATCH/fail-<id> exists. T1 and T2 add a line at the same
// place in NOTES.md (they conflict); any other task writes a file of its own.
const AGENT = [
  'echo "$TASK_MODE" >> "$SCRATCH/starts-$TASK_ID"',
  'if [ -e "$SCRATCH/fail-$TASK_ID" ]; then exit 3; fi',
  'case "$TASK_ID" in',
  '  T1|T2) sed -i "/^Entries:/a - $TASK_ID" NOTES.md ;;',
  '  *) echo "$TASK_TITLE" > "$TASK_ID.txt" ;;',
  'esac'
].join('\n')
// Records each start; every task writes a file of its own.
const AGENT_FILES =
  'echo "$TASK_MODE" >> "$SCRATCH/starts-$TASK_ID"; echo "$TASK_TITLE" > "$TASK_ID.txt"'

const starts = async (w: World, id: string): Promise<number> =>
  existsSync(path.join(w.scratch, `starts-${id}`))
    ? (await readFile(path.join(w.scratch, `starts-${id}`), 'utf8')).trim().split('\n').length
    : 0
const statuses = (r: RunActionResult): [string, string][] =>
  (JSON.parse(r.outputs.tasks) as { id: string; status: string }[]).map((t) => [t.id, t.status])
const taskOutput = (r: RunActionResult, id: string): Record<string, unknown> =>
  (JSON.parse(r.outputs.tasks) as Record<string, unknown>[]).find((t) => t.id === id)!
const statusComment = (w: World): string => {
  const found = w.api.comments.filter((c) =>
    c.body.includes('<!-- agent-fanout:status issue=12 -->')
  )
  expect(found).toHaveLength(1)
  return found[0].body
}
const originTip = (w: World, branch: string): Promise<string> =>
  git(w.origin.bareDir, ['rev-parse', `refs/heads/${branch}`], w.env)
const originShow = (w: World, branch: string, file: string): Promise<string> =>
  git(w.origin.bareDir, ['show', `refs/heads/${branch}:${file}`], w.env)
const contains = (w: World, commit: string, branch: string): Promise<boolean> =>
  git(
    w.origin.bareDir,
    ['merge-base', '--is-ancestor', commit, `refs/heads/${branch}`],
    w.env
  ).then(
    () => true,
    () => false
  )

/** A person's full clone of the origin, with their own name on commits. */
async function personClone(w: World): Promise<{ dir: string; env: NodeJS.ProcessEnv }> {
  const dir = await tempDir('person')
  const env = {
    ...w.env,
    GIT_AUTHOR_NAME: 'Pat Person',
    GIT_AUTHOR_EMAIL: 'pat@example.test',
    GIT_COMMITTER_NAME: 'Pat Person',
    GIT_COMMITTER_EMAIL: 'pat@example.test'
  }
  await git(dir, ['clone', '--quiet', w.origin.url, '.'], env)
  return { dir, env }
}

/** Runs a shell command line the way a person pastes it into a terminal; resolves to its exit status. */
async function shell(cwd: string, line: string, env: NodeJS.ProcessEnv): Promise<number> {
  return execFileAsync('bash', ['-c', line], { cwd, env }).then(
    () => 0,
    (e: { code?: number }) => e.code ?? 1
  )
}

const INTEGRATION = 'fanout/issue-12/integration'

describe('a person resolves a conflict as the report says', () => {
  it('keeps the resolution on /fanout run: the task is merged-by-hand, not run again, and the others stay merged', async () => {
    const w = await world('- [ ] one\n- [ ] two\n- [ ] three\n')
    await writeFile(path.join(w.scratch, 'fail-T3'), '')
    const first = await label(w, AGENT)
    expect(statuses(first)).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted'],
      ['T3', 'failed']
    ])

    // The report's own instructions for T2, followed literally in a clone of the origin.
    const report = statusComment(w)
    const section = report.slice(report.indexOf('#### ⚠️ T2'))
    const steps = /Resolve by hand: `([^`]+)`, fix the files above, commit and push/.exec(section)
    expect(steps).not.toBeNull()
    expect(steps![1]).toBe(
      `git fetch origin && git switch ${INTEGRATION} && git merge origin/fanout/issue-12/T2`
    )
    const person = await personClone(w)
    // fetch, switch, merge: the merge stops at the conflict, as the report says it will.
    expect(await shell(person.dir, steps![1], person.env)).toBe(1)
    expect(await readFile(path.join(person.dir, 'NOTES.md'), 'utf8')).toContain('<<<<<<<')
    // fix the files, commit and push.
    const resolved = NOTES.replace('Entries:\n', 'Entries:\n- T1\n- T2 (placed by Pat)\n')
    await writeFile(path.join(person.dir, 'NOTES.md'), resolved)
    await git(person.dir, ['add', 'NOTES.md'], person.env)
    await git(person.dir, ['commit', '--quiet', '--no-edit'], person.env)
    await git(person.dir, ['push', '--quiet'], person.env)
    const fix = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    expect(await originTip(w, INTEGRATION)).toBe(fix)

    // T3 can succeed now; the maintainer comments /fanout run.
    await rm(path.join(w.scratch, 'fail-T3'))
    const second = await comment(w, '/fanout run', AGENT)
    expect(second.exitCode).toBe(0)
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'merged']
    ])
    // The fix survives on the origin's integration branch, with T3 merged on top of it.
    expect(await contains(w, fix, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'NOTES.md')).toBe(resolved.trimEnd())
    expect(await originShow(w, INTEGRATION, 'T3.txt')).toBe('three')
    // T2's agent was not started again, nor T1's; T3's was (it had failed).
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 2])
    expect(taskOutput(second, 'T2')).toMatchObject({ status: 'merged-by-hand', reused: true })
    expect(String(taskOutput(second, 'T2').reason)).toMatch(/merged into .* by hand by Pat Person/)
    const body = statusComment(w)
    expect(body).toContain('| T2 | two | ✅ merged by hand |')
    expect(body).toContain('| T1 | one | ✅ merged |')
    expect(body).toMatch(/holds 1 commit by people/)
    expect(w.api.pulls).toHaveLength(1)
    expect(w.api.pulls[0].body).toContain('Closes #12')

    // Once more: the action's own earlier run built on the fix, and it still keeps it.
    const third = await comment(w, '/fanout run', AGENT)
    expect(third.exitCode).toBe(0)
    expect(statuses(third)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'merged']
    ])
    expect(await contains(w, fix, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'NOTES.md')).toBe(resolved.trimEnd())
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 2])

    // Retrying T2 would take the person's resolution out: refused before any agent starts.
    const tip = await originTip(w, INTEGRATION)
    const retry = await comment(w, '/fanout retry T2', AGENT)
    expect(retry.exitCode).toBe(1)
    expect(retry.errors.join('\n')).toMatch(/T2: \/fanout retry asks to run it again/)
    expect(statusComment(w)).toMatch(/Nothing was started: .* holds commits by people/)
    expect(statusComment(w)).toContain('T2: /fanout retry asks to run it again')
    expect(await starts(w, 'T2')).toBe(1)
    expect(await originTip(w, INTEGRATION)).toBe(tip)
  }, 240_000)
})

describe('a person pushes onto a task branch', () => {
  it('the next run merges that branch as the task result instead of running the agent over it', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n- [ ] gamma\n')
    const first = await label(w, AGENT)
    expect(first.exitCode).toBe(1) // T2 conflicted
    expect(statuses(first)).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted'],
      ['T3', 'merged']
    ])

    // Pat fixes T3's file on its branch and resolves T2's conflict on T2's own branch.
    const person = await personClone(w)
    await git(person.dir, ['switch', '--quiet', 'fanout/issue-12/T3'], person.env)
    await writeFile(path.join(person.dir, 'T3.txt'), 'gamma, corrected by Pat\n')
    await git(person.dir, ['commit', '--quiet', '-am', 'Correct gamma'], person.env)
    await git(person.dir, ['push', '--quiet'], person.env)
    const t3 = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    await git(person.dir, ['switch', '--quiet', 'fanout/issue-12/T2'], person.env)
    await git(person.dir, ['reset', '--quiet', '--hard', 'origin/main'], person.env)
    await writeFile(path.join(person.dir, 'NOTES.md'), `${NOTES}- T2\n`)
    await git(person.dir, ['commit', '--quiet', '-am', 'T2 at the end instead'], person.env)
    await git(person.dir, ['push', '--quiet', '--force'], person.env)
    const t2 = await git(person.dir, ['rev-parse', 'HEAD'], person.env)

    const second = await comment(w, '/fanout run', AGENT)
    expect(second.exitCode).toBe(0)
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    // Neither agent ran over the people's commits; both branches are as Pat left them.
    expect([await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1])
    expect(await originTip(w, 'fanout/issue-12/T3')).toBe(t3)
    expect(await originTip(w, 'fanout/issue-12/T2')).toBe(t2)
    expect(await contains(w, t3, INTEGRATION)).toBe(true)
    expect(await contains(w, t2, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'T3.txt')).toBe('gamma, corrected by Pat')
    expect(await originShow(w, INTEGRATION, 'NOTES.md')).toContain('end\n- T2')
    expect(String(taskOutput(second, 'T3').reason)).toMatch(
      /its branch holds 1 commit by people .*its agent was not started again/
    )
    const body = statusComment(w)
    expect(body).toMatch(/T3: its branch holds 1 commit by people/)
    expect(body).toMatch(/T2: its branch holds 1 commit by people/)
  }, 180_000)
})

describe('keeping commits by people is impossible', () => {
  it('stops before any agent starts, says so on the issue and leaves the branch alone', async () => {
    const w = await world('- [ ] alpha\n')
    expect((await label(w, AGENT_FILES)).exitCode).toBe(0)
    // Pat commits onto the integration branch; the base changes the same line meanwhile.
    const pat = await commitToOrigin(
      w.origin,
      { 'NOTES.md': NOTES.replace('end', 'end (Pat)') },
      'Pat: sign the notes',
      INTEGRATION
    )
    await commitToOrigin(w.origin, { 'NOTES.md': NOTES.replace('end', 'the end') }, 'Reword')
    w.api.issues.get(12)!.body = '- [ ] alpha\n- [ ] beta\n'

    const r = await label(w, AGENT_FILES)
    expect(r.exitCode).toBe(1)
    expect(await starts(w, 'T2')).toBe(0)
    expect(await starts(w, 'T1')).toBe(1)
    expect(await originTip(w, INTEGRATION)).toBe(pat)
    const body = statusComment(w)
    expect(body).toContain('### agent-fanout: nothing started')
    expect(body).toMatch(
      /`main` moved on and does not merge cleanly into `fanout\/issue-12\/integration` \(conflicts in NOTES.md\)/
    )
    expect(body).toContain(`git switch ${INTEGRATION} && git merge origin/main`)
    expect(r.errors.join('\n')).toMatch(/holds commits by people/)
    // The recorded state survived: after Pat merges main in, the next run builds on it.
    const person = await personClone(w)
    await git(person.dir, ['switch', '--quiet', INTEGRATION], person.env)
    expect(await shell(person.dir, 'git merge origin/main', person.env)).toBe(1)
    await writeFile(path.join(person.dir, 'NOTES.md'), NOTES.replace('end', 'the end (Pat)'))
    await git(person.dir, ['commit', '--quiet', '-am', 'Merge main'], person.env)
    await git(person.dir, ['push', '--quiet'], person.env)
    const merged = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    const again = await label(w, AGENT_FILES)
    expect(again.exitCode).toBe(0)
    expect(statuses(again)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(await starts(w, 'T1')).toBe(1)
    expect(await contains(w, merged, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'T2.txt')).toBe('beta')
  }, 180_000)

  it('a push onto the integration branch during the run is not overwritten, and the next run keeps it', async () => {
    const w = await world('- [ ] alpha\n- [ ] beta\n')
    expect((await label(w, AGENT_FILES)).exitCode).toBe(0)
    // While the second run's agents work, Pat pushes onto the integration branch.
    const person = await personClone(w)
    await git(person.dir, ['switch', '--quiet', INTEGRATION], person.env)
    await writeFile(path.join(person.dir, 'pat.txt'), 'mine\n')
    await git(person.dir, ['add', 'pat.txt'], person.env)
    await git(person.dir, ['commit', '--quiet', '-m', 'Pat adds a file'], person.env)
    const pat = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    w.api.issues.get(12)!.body = '- [ ] alpha\n- [ ] beta\n- [ ] gamma\n'
    const pushing = `if [ "$TASK_ID" = T3 ]; then git -C ${person.dir} push -q origin HEAD; fi; ${AGENT_FILES}`
    const second = await label(w, pushing)
    expect(second.exitCode).toBe(1)
    expect(second.stdout).toMatch(/REJECTED fanout\/issue-12\/integration: .*stale info/)
    expect(await originTip(w, INTEGRATION)).toBe(pat)

    const third = await label(w, AGENT_FILES)
    expect(third.exitCode).toBe(0)
    expect(statuses(third)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect(await starts(w, 'T3')).toBe(1) // its branch from the second run is reused
    expect(await contains(w, pat, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'pat.txt')).toBe('mine')
    // Its commit alone is the person's: the second run's result was never pushed.
    expect(statusComment(w)).toMatch(/holds 1 commit by people/)
    expect(await originShow(w, INTEGRATION, 'T3.txt')).toBe('gamma')
  }, 180_000)
})

describe('matrix mode', () => {
  /** One matrix job on a fresh runner (the same workflow run: the stand-in's run id). */
  async function job(w: World, inputs: Record<string, string>): Promise<RunActionResult> {
    const issue = w.api.issues.get(12)!
    return runAction({
      workspace: await cloneWorkspace(w.origin, { depth: 1, dir: await tempDir('runner') }),
      inputs: { 'agent-command': AGENT, ...inputs },
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 12, title: issue.title, body: issue.body },
        repository: repository(w),
        sender: { login: 'maintainer', type: 'User' }
      },
      api: w.api,
      env: { SCRATCH: w.scratch },
      timeoutMs: 180_000
    })
  }
  async function matrixRun(
    w: World,
    between?: () => Promise<void>
  ): Promise<RunActionResult & { plan: RunActionResult; planned: string[] }> {
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)
    const matrix = JSON.parse(plan.outputs.matrix) as { include: { task: string }[] }
    for (const { task } of matrix.include)
      await job(w, { mode: 'task', 'task-id': task, 'issue-number': '12' })
    await between?.()
    const merge = await job(w, { mode: 'merge', 'issue-number': '12' })
    return Object.assign(merge, { plan, planned: matrix.include.map((t) => t.task) })
  }

  it('plans no task job for a task merged by hand, and the merge job builds on commits people pushed meanwhile', async () => {
    const w = await world('- [ ] one\n- [ ] two\n- [ ] three\n')
    await writeFile(path.join(w.scratch, 'fail-T3'), '')
    const first = await matrixRun(w)
    expect(statuses(first)).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted'],
      ['T3', 'failed']
    ])
    const report = statusComment(w)
    const steps = /Resolve by hand: `([^`]+)`/.exec(report.slice(report.indexOf('#### ⚠️ T2')))!
    const person = await personClone(w)
    expect(await shell(person.dir, steps[1], person.env)).toBe(1)
    const resolved = NOTES.replace('Entries:\n', 'Entries:\n- T1\n- T2\n')
    await writeFile(path.join(person.dir, 'NOTES.md'), resolved)
    await git(person.dir, ['commit', '--quiet', '-am', 'Resolve T2'], person.env)
    await git(person.dir, ['push', '--quiet'], person.env)
    const fix = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    await rm(path.join(w.scratch, 'fail-T3'))

    let later = ''
    const second = await matrixRun(w, async () => {
      // After the task jobs, before the merge job: one more commit by Pat.
      await writeFile(path.join(person.dir, 'pat.txt'), 'mine\n')
      await git(person.dir, ['add', 'pat.txt'], person.env)
      await git(person.dir, ['commit', '--quiet', '-m', 'Pat adds a file'], person.env)
      await git(person.dir, ['push', '--quiet'], person.env)
      later = await git(person.dir, ['rev-parse', 'HEAD'], person.env)
    })
    expect(second.planned).toEqual(['T3'])
    expect(statuses(second.plan)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'queued']
    ])
    expect(second.exitCode).toBe(0)
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'merged']
    ])
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 2])
    expect(await contains(w, fix, INTEGRATION)).toBe(true)
    expect(await contains(w, later, INTEGRATION)).toBe(true)
    expect(await originShow(w, INTEGRATION, 'NOTES.md')).toBe(resolved.trimEnd())
    expect(await originShow(w, INTEGRATION, 'T3.txt')).toBe('three')
    expect(statusComment(w)).toContain('| T2 | two | ✅ merged by hand |')
  }, 300_000)
})

describe('the CLI', () => {
  const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
  const LOCAL = 'fanout/issue-4/integration'

  async function cli(
    repo: string,
    issueFile: string,
    env: NodeJS.ProcessEnv,
    agent = AGENT
  ): Promise<{ code: number; stdout: string; stderr: string; tasks: [string, string][] }> {
    const args = [CLI, 'run', '--issue-file', issueFile, '--agent', agent, '--repo', repo]
    const { code, stdout, stderr } = await execFileAsync(
      nodeBinary(),
      [...args, '--issue-number', '4', '--json'],
      { env }
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e
    )
    const json = stdout.includes('{\n')
      ? (JSON.parse(stdout.slice(stdout.indexOf('{\n'))) as {
          tasks: { id: string; status: string }[]
        })
      : { tasks: [] }
    return { code, stdout, stderr, tasks: json.tasks.map((t) => [t.id, t.status]) }
  }

  it('keeps a conflict the user merged into the local integration branch by hand, and their commits on a task branch', async () => {
    const origin = await createOrigin({ 'NOTES.md': NOTES })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const scratch = await tempDir('people-cli')
    const env = { ...isolatedGitEnv(origin.home), SCRATCH: scratch }
    const issueFile = path.join(scratch, 'tasks.md')
    await writeFile(issueFile, '# Local issue\n\n- [ ] T1: one\n- [ ] T2: two\n- [ ] T3: three\n')
    const w = { scratch } as World
    const first = await cli(repo, issueFile, env)
    expect(first.code).toBe(1)
    expect(first.tasks).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted'],
      ['T3', 'merged']
    ])

    // The user merges T2 into the local integration branch, fixes, commits, and goes back.
    await git(repo, ['switch', '--quiet', LOCAL], env)
    await expect(git(repo, ['merge', 'fanout/issue-4/T2'], env)).rejects.toThrow(/exit 1/)
    const resolved = NOTES.replace('Entries:\n', 'Entries:\n- T2 first\n- T1\n')
    await writeFile(path.join(repo, 'NOTES.md'), resolved)
    await git(repo, ['commit', '--quiet', '-am', 'Resolve T2 by hand'], env)
    const fix = await git(repo, ['rev-parse', 'HEAD'], env)
    await git(repo, ['switch', '--quiet', 'main'], env)

    const second = await cli(repo, issueFile, env)
    expect(second.code).toBe(0)
    expect(second.tasks).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'merged']
    ])
    expect(await git(repo, ['merge-base', '--is-ancestor', fix, LOCAL], env)).toBe('')
    expect(await git(repo, ['show', `${LOCAL}:NOTES.md`], env)).toBe(resolved.trimEnd())
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 1])
    expect(second.stdout).toMatch(
      /"warnings": \[\s*"`fanout\/issue-4\/integration` holds 1 commit by people/
    )

    // A commit of theirs on T3's branch: the next run merges it rather than running T3 again.
    await git(repo, ['switch', '--quiet', 'fanout/issue-4/T3'], env)
    await writeFile(path.join(repo, 'T3.txt'), 'three, and more\n')
    await git(repo, ['commit', '--quiet', '-am', 'More three'], env)
    const more = await git(repo, ['rev-parse', 'HEAD'], env)
    await git(repo, ['switch', '--quiet', 'main'], env)
    const third = await cli(repo, issueFile, env)
    expect(third.code).toBe(0)
    expect(third.tasks).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-by-hand'],
      ['T3', 'merged']
    ])
    expect([await starts(w, 'T1'), await starts(w, 'T2'), await starts(w, 'T3')]).toEqual([1, 1, 1])
    expect(await git(repo, ['rev-parse', 'fanout/issue-4/T3'], env)).toBe(more)
    expect(await git(repo, ['merge-base', '--is-ancestor', fix, LOCAL], env)).toBe('')
    expect(await git(repo, ['show', `${LOCAL}:T3.txt`], env)).toBe('three, and more')
    expect(third.stdout).toMatch(/T3: its branch holds 1 commit by people/)
  }, 180_000)

  it('leaves the local integration branch alone when someone commits on it during the run, and the next run keeps that commit', async () => {
    const origin = await createOrigin({ 'NOTES.md': NOTES })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const scratch = await tempDir('people-cli')
    const env = { ...isolatedGitEnv(origin.home), SCRATCH: scratch, REPO: repo }
    const issueFile = path.join(scratch, 'tasks.md')
    await writeFile(issueFile, '# Local issue\n\n- [ ] T3: three\n')
    // While T3's agent works, Pat commits onto the integration branch.
    const during = [
      `c=$(git -C "$REPO" commit-tree -p main -m "Pat, during the run" "main^{tree}")`,
      `git -C "$REPO" update-ref refs/heads/${LOCAL} "$c" && echo "$c" > "$SCRATCH/pat"`
    ].join('; ')
    const first = await cli(repo, issueFile, env, `${during}; ${AGENT}`)
    expect(first.code).toBe(1)
    const pat = (await readFile(path.join(scratch, 'pat'), 'utf8')).trim()
    expect(await git(repo, ['rev-parse', LOCAL], env)).toBe(pat)
    expect(first.stdout).toContain('was changed while this run worked')

    const second = await cli(repo, issueFile, env)
    expect(second.code).toBe(0)
    expect(second.tasks).toEqual([['T3', 'merged']])
    expect(await git(repo, ['merge-base', '--is-ancestor', pat, LOCAL], env)).toBe('')
    expect(await git(repo, ['show', `${LOCAL}:T3.txt`], env)).toBe('three')
  }, 120_000)

  it('stops before any agent starts and exits non-zero when the base cannot be merged into the branch', async () => {
    const origin = await createOrigin({ 'NOTES.md': NOTES })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const scratch = await tempDir('people-cli')
    const env = { ...isolatedGitEnv(origin.home), SCRATCH: scratch }
    const issueFile = path.join(scratch, 'tasks.md')
    await writeFile(issueFile, '# Local issue\n\n- [ ] T3: three\n')
    expect((await cli(repo, issueFile, env)).code).toBe(0)
    await git(repo, ['switch', '--quiet', LOCAL], env)
    await writeFile(path.join(repo, 'NOTES.md'), NOTES.replace('end', 'end (mine)'))
    await git(repo, ['commit', '--quiet', '-am', 'Sign'], env)
    const mine = await git(repo, ['rev-parse', 'HEAD'], env)
    await git(repo, ['switch', '--quiet', 'main'], env)
    await writeFile(path.join(repo, 'NOTES.md'), NOTES.replace('end', 'the end'))
    await git(repo, ['commit', '--quiet', '-am', 'Reword'], env)

    const r = await cli(repo, issueFile, env)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/Nothing was started: .* holds commits by people/)
    expect(r.stderr).toContain('does not merge cleanly into `fanout/issue-4/integration`')
    expect(r.stderr).toContain(`git switch ${LOCAL} && git merge main`)
    expect(await starts({ scratch } as World, 'T3')).toBe(1)
    expect(await git(repo, ['rev-parse', LOCAL], env)).toBe(mine)
  }, 120_000)
})
