// The engine against real git: a bare origin, clones (shallow too), real agents run by bash.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout, type EngineOptions } from '../src/core/engine.js'
import type { RunEvent } from '../src/core/events.js'
import { Git } from '../src/core/git/git.js'
import { memoryLogger } from '../src/core/logger.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { FanoutResult } from '../src/core/types.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const BASE_FILES = {
  'README.md': '# Sample\n\nline three\n\nStatus: draft\n',
  'src/app.txt': 'alpha\nbeta\ngamma\n'
}

interface Setup {
  workspace: string
  env: NodeJS.ProcessEnv
  git: Git
  baseSha: string
  scratch: string
}

async function setup(opts: { depth?: number } = {}): Promise<Setup> {
  const origin = await createOrigin(BASE_FILES, { commits: 3 })
  const workspace = await cloneWorkspace(origin, { depth: opts.depth ?? 1 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('scratch')
  const g = new Git(workspace, {
    env,
    identity: { name: 'Fanout Test', email: 'fanout@test.invalid' }
  })
  return { workspace, env, git: g, baseSha: await g.out(['rev-parse', 'HEAD']), scratch }
}

async function fanout(
  s: Setup,
  issue: string,
  agentCommand: string,
  extra: Partial<EngineOptions> = {}
): Promise<FanoutResult & { log: string[] }> {
  const logger = memoryLogger()
  const result = await runFanout({
    git: s.git,
    logger,
    issue: { number: 7, title: 'Test issue' },
    tasks: parseTaskList(issue).tasks,
    baseBranch: 'main',
    baseSha: s.baseSha,
    agentCommand,
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 500,
    branchPrefix: 'fanout/issue-7',
    workDir: path.join(s.scratch, 'work'),
    identity: { name: 'Fanout Test', email: 'fanout@test.invalid' },
    agentBaseEnv: { ...s.env, SCRATCH: s.scratch },
    secrets: [],
    ...extra
  })
  return { ...result, log: logger.lines }
}

const byId = (r: FanoutResult, id: string) => r.tasks.find((t) => t.id === id)!

describe('runFanout with real git', () => {
  it('runs every task in its own worktree and merges all branches into the integration branch', async () => {
    const s = await setup()
    const issue = '- [ ] Add one\n- [ ] Add two\n- [ ] Add three\n'
    // Each agent writes a file named after its task, plus records where it ran.
    const r = await fanout(
      s,
      issue,
      'echo "$TASK_TITLE" > "out-$TASK_ID.txt"; pwd > "$SCRATCH/cwd-$TASK_ID"; git rev-parse --abbrev-ref HEAD > "$SCRATCH/branch-$TASK_ID"'
    )
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    const cwds = await Promise.all(
      ['T1', 'T2', 'T3'].map((id) => readFile(path.join(s.scratch, `cwd-${id}`), 'utf8'))
    )
    expect(new Set(cwds).size).toBe(3) // three separate directories
    for (const cwd of cwds) expect(cwd.startsWith(s.workspace)).toBe(false) // outside the workspace
    expect((await readFile(path.join(s.scratch, 'branch-T2'), 'utf8')).trim()).toBe(
      'fanout/issue-7/T2'
    )

    const files = await git(
      s.workspace,
      ['ls-tree', '-r', '--name-only', 'fanout/issue-7/integration'],
      s.env
    )
    expect(files.split('\n')).toEqual(
      expect.arrayContaining(['out-T1.txt', 'out-T2.txt', 'out-T3.txt'])
    )
    // One merge commit per task, in task-list order, first parent chain from the base.
    const subjects = await git(
      s.workspace,
      ['log', '--first-parent', '--format=%s', `${s.baseSha}..fanout/issue-7/integration`],
      s.env
    )
    expect(subjects.split('\n')).toEqual([
      'Merge task T3: Add three',
      'Merge task T2: Add two',
      'Merge task T1: Add one'
    ])
    expect(byId(r, 'T1').changedFiles).toEqual(['out-T1.txt'])
    // Worktrees are gone afterwards.
    const worktrees = await git(s.workspace, ['worktree', 'list', '--porcelain'], s.env)
    expect(worktrees.match(/^worktree /gm)).toHaveLength(1)
  })

  it('gives the same tree as plain `git merge --no-ff` of the same branches in the same order', async () => {
    const s = await setup({ depth: 0 })
    const issue = '- [ ] edit a\n- [ ] edit b\n- [ ] edit c\n- [ ] rename\n'
    const agent = [
      'case "$TASK_ID" in',
      '  T1) sed -i "s/alpha/ALPHA/" src/app.txt ;;',
      '  T2) sed -i "s/gamma/GAMMA/" src/app.txt ;;',
      '  T3) echo more >> README.md; mkdir -p docs; echo hi > docs/x.md ;;',
      '  T4) git mv README.md README.txt && git commit -qm "rename readme" ;;',
      'esac'
    ].join('\n')
    const r = await fanout(s, issue, agent)
    expect(r.tasks.every((t) => t.status === 'merged')).toBe(true)
    await git(s.workspace, ['checkout', '-q', '-b', 'manual', s.baseSha], s.env)
    for (const id of ['T1', 'T2', 'T3', 'T4']) {
      await git(
        s.workspace,
        ['merge', '--no-ff', '-q', '-m', `manual ${id}`, `fanout/issue-7/${id}`],
        s.env
      )
    }
    const manualTree = await git(s.workspace, ['rev-parse', 'manual^{tree}'], s.env)
    const oursTree = await git(
      s.workspace,
      ['rev-parse', 'fanout/issue-7/integration^{tree}'],
      s.env
    )
    expect(oursTree).toBe(manualTree)
    // The rename task's own commit is kept on its branch, not squashed.
    expect(await git(s.workspace, ['log', '-1', '--format=%s', 'fanout/issue-7/T4'], s.env)).toBe(
      'rename readme'
    )
  })

  it('leaves a conflicting task out, records files and hunks, and goes on with later tasks', async () => {
    const s = await setup()
    const issue = '- [ ] stable\n- [ ] beta\n- [ ] other file\n'
    const agent = [
      'case "$TASK_ID" in',
      '  T1) sed -i "s/Status: draft/Status: stable/" README.md ;;',
      '  T2) sed -i "s/Status: draft/Status: beta/" README.md ;;',
      '  T3) echo delta >> src/app.txt ;;',
      'esac'
    ].join('\n')
    const r = await fanout(s, issue, agent)
    expect(r.tasks.map((t) => t.status)).toEqual(['merged', 'conflicted', 'merged'])
    const t2 = byId(r, 'T2')
    expect(t2.conflict?.files).toEqual(['README.md'])
    expect(t2.conflict?.messages.join('\n')).toMatch(
      /CONFLICT \(content\): Merge conflict in README.md/
    )
    expect(t2.conflict?.hunks[0].text).toContain('<<<<<<< fanout/issue-7/integration')
    expect(t2.conflict?.hunks[0].text).toContain('Status: beta')
    expect(t2.conflict?.hunks[0].text).toContain('>>>>>>> fanout/issue-7/T2')
    // Its work is kept on its branch; the integration branch has none of it.
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T2:README.md'], s.env)).toContain(
      'Status: beta'
    )
    const integrated = await git(
      s.workspace,
      ['show', 'fanout/issue-7/integration:README.md'],
      s.env
    )
    expect(integrated).toContain('Status: stable')
    expect(integrated).not.toContain('<<<<<<<')
    expect(
      await git(s.workspace, ['show', 'fanout/issue-7/integration:src/app.txt'], s.env)
    ).toContain('delta')
  })

  it('commits what the agent left uncommitted and keeps the commits it made itself', async () => {
    const s = await setup()
    const r = await fanout(
      s,
      '- [ ] both\n',
      'echo one > committed.txt && git add committed.txt && git commit -qm "agent commit" && echo two > loose.txt'
    )
    expect(byId(r, 'T1').status).toBe('merged')
    const log = await git(
      s.workspace,
      ['log', '--format=%s', `${s.baseSha}..fanout/issue-7/T1`],
      s.env
    )
    expect(log.split('\n')).toEqual(['T1: both', 'agent commit'])
    expect(byId(r, 'T1').changedFiles.sort()).toEqual(['committed.txt', 'loose.txt'])
  })

  it('follows an agent that detached HEAD: its commit is the task result; a HEAD on another branch, or one that left the base, is refused', async () => {
    const s = await setup({ depth: 0 })
    const agent = [
      'case "$TASK_ID" in',
      '  T1) git checkout -q --detach && echo d > detached.txt && git add detached.txt && git commit -qm "on a detached HEAD" ;;',
      '  T2) git checkout -q -b elsewhere && echo e > elsewhere.txt ;;',
      '  T3) git checkout -q --orphan lost && echo z > z.txt && git add z.txt && git commit -qm "unrelated" ;;',
      '  T4) git reset -q --hard HEAD~1 ;;',
      '  T5) git reset -q --hard HEAD~1 && echo b > behind.txt ;;',
      'esac'
    ].join('\n')
    const r = await fanout(s, '- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n- [ ] e\n', agent)
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed'],
      ['T3', 'failed'],
      ['T4', 'failed'],
      ['T5', 'failed']
    ])
    expect(byId(r, 'T1').changedFiles).toEqual(['detached.txt'])
    // A branch the agent switched to is not the task's: nothing is committed onto it, and the
    // work is kept on the task's branch.
    expect(byId(r, 'T2').reason).toMatch(
      /^switched its worktree to branch elsewhere, not its task branch fanout\/issue-7\/T2\. Nothing of it was merged; its branch fanout\/issue-7\/T2 keeps the work/
    )
    expect(await git(s.workspace, ['rev-parse', 'elsewhere'], s.env)).toBe(s.baseSha)
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T2:elsewhere.txt'], s.env)).toBe('e')
    expect(byId(r, 'T3').reason).toMatch(/^switched its worktree to branch lost, not its task /)
    for (const id of ['T4', 'T5'])
      expect(byId(r, id).reason).toMatch(
        /^the agent left HEAD at [0-9a-f]{12}, which does not descend from /
      )
    // Work that left the base is not merged, but kept on its branch; no work, no branch.
    expect(byId(r, 'T5').reason).toMatch(/; its branch fanout\/issue-7\/T5 keeps that work$/)
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T5:behind.txt'], s.env)).toBe('b')
    expect(byId(r, 'T5').commit).toBe(
      await git(s.workspace, ['rev-parse', 'fanout/issue-7/T5'], s.env)
    )
    await expect(
      git(s.workspace, ['rev-parse', '--verify', 'fanout/issue-7/T4'], s.env)
    ).rejects.toThrow()
    // The task branches point at the agents' commits, whatever HEAD pointed at.
    const log = (ref: string) => git(s.workspace, ['log', '-1', '--format=%s', ref], s.env)
    expect(await log('fanout/issue-7/T1')).toBe('on a detached HEAD')
    expect(await log('fanout/issue-7/T2')).toBe('T2: unfinished, not merged')
    const files = await git(
      s.workspace,
      ['ls-tree', '--name-only', 'fanout/issue-7/integration'],
      s.env
    )
    expect(files.split('\n')).toContain('detached.txt')
    expect(files.split('\n')).not.toContain('elsewhere.txt')
    expect(files.split('\n')).not.toContain('z.txt')
  })

  it('reads each result whatever state the agent left refs in: packed refs, a HEAD that names no commit', async () => {
    const s = await setup({ depth: 0 })
    const agent = [
      'echo "$TASK_ID" > "$TASK_ID.txt"',
      'case "$TASK_ID" in',
      // Committed, then every ref packed: no loose ref file for the branch any more.
      '  T1) git add -A && git commit -qm "packed" && git pack-refs --all ;;',
      // HEAD names an object that does not exist: this task fails, the others are not held up.
      '  T2) printf "%040d\\n" 7 > "$(git rev-parse --git-dir)/HEAD" ;;',
      'esac'
    ].join('\n')
    const r = await fanout(s, '- [ ] a\n- [ ] b\n- [ ] c\n', agent)
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed'],
      ['T3', 'merged']
    ])
    expect(byId(r, 'T1').changedFiles).toEqual(['T1.txt'])
    expect(byId(r, 'T2').reason).toMatch(
      /^left HEAD naming no commit the repository has \(0{39}7\)\. Nothing of it was merged; its branch fanout\/issue-7\/T2 keeps the work/
    )
    const files = await git(
      s.workspace,
      ['ls-tree', '--name-only', 'fanout/issue-7/integration'],
      s.env
    )
    expect(files.split('\n')).toEqual(expect.arrayContaining(['T1.txt', 'T3.txt']))
    expect(files.split('\n')).not.toContain('T2.txt')
  })

  it('reports no-changes and failed tasks without merging them, with the log tail, and deletes their branches', async () => {
    const s = await setup()
    const r = await fanout(
      s,
      '- [ ] nothing\n- [ ] broken\n- [x] done already\n',
      'if [ "$TASK_ID" = T2 ]; then echo "partial work" > p.txt; echo "compiler says no" >&2; exit 4; fi; true'
    )
    expect(byId(r, 'T1').status).toBe('no-changes')
    expect(byId(r, 'T2').status).toBe('failed')
    expect(byId(r, 'T2').reason).toBe('agent exited with status 4')
    expect(byId(r, 'T2').logTail).toContain('compiler says no')
    expect(byId(r, 'T3').status).toBe('skipped')
    expect(r.integrationSha).toBe(s.baseSha)
    const branches = await git(
      s.workspace,
      ['branch', '--list', 'fanout/*', '--format=%(refname:short)'],
      s.env
    )
    expect(branches.split('\n')).toEqual(['fanout/issue-7/integration'])
  })

  it('never lets more than max-parallel agents run at once, and does run that many together', async () => {
    const s = await setup()
    await mkdir(path.join(s.scratch, 'running'))
    // Each agent registers itself, samples how many are running, and leaves.
    const agent =
      'touch "$SCRATCH/running/$TASK_ID"; sleep 0.4; ls "$SCRATCH/running" | wc -l > "$SCRATCH/seen-$TASK_ID"; sleep 0.2; rm "$SCRATCH/running/$TASK_ID"'
    const r = await fanout(s, '- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n- [ ] e\n- [ ] f\n', agent, {
      maxParallel: 2
    })
    expect(r.tasks.every((t) => t.status === 'no-changes')).toBe(true)
    const seen = await Promise.all(
      r.tasks.map(async (t) => Number(await readFile(path.join(s.scratch, `seen-${t.id}`), 'utf8')))
    )
    expect(Math.max(...seen)).toBeLessThanOrEqual(2)
    expect(Math.max(...seen)).toBe(2)
  })

  it('with deferDeletion returns once git knows no task worktree, and hands over the deletion of their files', async () => {
    const s = await setup()
    let deleted: Promise<void> | undefined
    const r = await fanout(s, '- [ ] a\n- [ ] b\n- [ ] c\n', 'echo "$TASK_ID" > "$TASK_ID.txt"', {
      deferDeletion: (promise) => (deleted = promise)
    })
    expect(r.tasks.map((t) => t.status)).toEqual(['merged', 'merged', 'merged'])
    expect(deleted).toBeInstanceOf(Promise)
    // Already unregistered: git lists only the main worktree, a prune has nothing to do.
    const listed = await git(s.workspace, ['worktree', 'list', '--porcelain'], s.env)
    expect(listed.match(/^worktree /gm)).toHaveLength(1)
    expect(await git(s.workspace, ['worktree', 'prune', '--dry-run', '--verbose'], s.env)).toBe('')
    await deleted
    await expect(readdir(path.join(s.scratch, 'work', 'worktrees'))).rejects.toThrow()
    expect((await readdir(path.join(s.workspace, '.git'))).filter((f) => /fanout/.test(f))).toEqual(
      []
    )
  })

  it('keeps at most max-parallel worktrees on disk when tasks outnumber it, and removes them all at the end', async () => {
    const s = await setup()
    // Each agent counts the worktree directories that exist while it runs (its own included).
    const agent =
      'ls "$(dirname "$TASK_WORKTREE")" | wc -l > "$SCRATCH/dirs-$TASK_ID"; echo "$TASK_ID" > "$TASK_ID.txt"'
    const r = await fanout(s, '- [ ] a\n- [ ] b\n- [ ] c\n- [ ] d\n- [ ] e\n- [ ] f\n', agent, {
      maxParallel: 2
    })
    expect(r.tasks.every((t) => t.status === 'merged')).toBe(true)
    const counts = await Promise.all(
      r.tasks.map(async (t) => Number(await readFile(path.join(s.scratch, `dirs-${t.id}`), 'utf8')))
    )
    expect(Math.max(...counts)).toBeLessThanOrEqual(2)
    const listed = await git(s.workspace, ['worktree', 'list', '--porcelain'], s.env)
    expect(listed.match(/^worktree /gm)).toHaveLength(1)
    await expect(readdir(path.join(s.scratch, 'work', 'worktrees'))).rejects.toThrow()
  })

  it('hands hostile task text to the agent as data: nothing in it is executed', async () => {
    const s = await setup()
    const marker = path.join(s.scratch, 'pwned')
    const title = `$(touch ${marker}) \`touch ${marker}\` "quoted" 'single' ; touch ${marker}`
    const r = await fanout(
      s,
      `- [ ] ${title}\n  - body $(touch ${marker})\n`,
      'printf "%s" "$TASK_TITLE" > title.txt; printf "%s" "$TASK_BODY" > body.txt; cp "$TASK_PROMPT_FILE" prompt.md'
    )
    expect(byId(r, 'T1').status).toBe('merged')
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T1:title.txt'], s.env)).toBe(title)
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T1:body.txt'], s.env)).toBe(
      `- body $(touch ${marker})`
    )
    const prompt = await git(s.workspace, ['show', 'fanout/issue-7/T1:prompt.md'], s.env)
    expect(prompt).toContain(title)
    expect(prompt).toMatch(/untrusted/i)
    expect(existsSync(marker)).toBe(false)
  })

  it('ends a timed-out agent with its whole process tree, including a child in its own session', async () => {
    const s = await setup()
    const agent = [
      'if [ "$TASK_ID" = T1 ]; then',
      '  setsid sleep 300 & echo $! > "$SCRATCH/setsid.pid"',
      '  sleep 300 & echo $! > "$SCRATCH/child.pid"',
      '  trap "" TERM',
      '  sleep 300',
      'fi',
      'echo ok > ok.txt'
    ].join('\n')
    const r = await fanout(s, '- [ ] hangs\n- [ ] works\n', agent, {
      taskTimeoutMs: 1000,
      killGraceMs: 300
    })
    expect(byId(r, 'T1').status).toBe('failed')
    expect(byId(r, 'T1').timedOut).toBe(true)
    expect(byId(r, 'T1').reason).toMatch(/timed out after 1 s/)
    expect(byId(r, 'T2').status).toBe('merged')
    for (const file of ['setsid.pid', 'child.pid']) {
      const pid = Number(await readFile(path.join(s.scratch, file), 'utf8'))
      expect(isAlive(pid)).toBe(false)
    }
  })

  it('ends background processes an agent leaves behind when it exits', async () => {
    const s = await setup()
    const r = await fanout(
      s,
      '- [ ] daemon\n',
      '(setsid sleep 300 >/dev/null 2>&1 & echo $! > "$SCRATCH/daemon.pid"); sleep 0.1; echo done > d.txt'
    )
    expect(byId(r, 'T1').status).toBe('merged')
    const pid = Number(await readFile(path.join(s.scratch, 'daemon.pid'), 'utf8'))
    expect(isAlive(pid)).toBe(false)
  })

  it('cleans up a stale worktree left at the same place by a crashed run', async () => {
    const s = await setup()
    const workDir = path.join(s.scratch, 'work')
    const stale = path.join(workDir, 'worktrees', 'T1')
    await git(
      s.workspace,
      ['worktree', 'add', '-q', '-b', 'fanout/issue-7/T1', stale, 'HEAD'],
      s.env
    )
    await git(s.workspace, ['worktree', 'lock', '--reason', 'initializing', stale], s.env)
    await writeFile(path.join(stale, 'junk.txt'), 'left over')
    const r = await fanout(s, '- [ ] again\n', 'echo fresh > fresh.txt')
    expect(byId(r, 'T1').status).toBe('merged')
    expect(byId(r, 'T1').changedFiles).toEqual(['fresh.txt'])
    expect(r.log.join('\n')).toMatch(/Removing stale worktree/)
    expect(existsSync(stale)).toBe(false)
  })

  it('works in a shallow clone as actions/checkout makes it (fetch-depth 1)', async () => {
    const s = await setup({ depth: 1 })
    expect(await git(s.workspace, ['rev-parse', '--is-shallow-repository'], s.env)).toBe('true')
    const r = await fanout(s, '- [ ] one\n- [ ] two\n', 'echo "$TASK_ID" > "$TASK_ID.txt"')
    expect(r.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    const parents = await git(
      s.workspace,
      ['log', '-1', '--format=%P', 'fanout/issue-7/integration'],
      s.env
    )
    expect(parents.split(' ')).toHaveLength(2)
  })

  it('keeps the token out of agents: no input, runtime token or token-valued variable in their env', async () => {
    const s = await setup()
    const token = 'ghs_secretTokenValue1234567890'
    const r = await fanout(s, '- [ ] env\n', 'env > "$SCRATCH/agent-env.txt"; echo x > x.txt', {
      agentBaseEnv: {
        ...s.env,
        SCRATCH: s.scratch,
        'INPUT_GITHUB-TOKEN': token,
        GH_TOKEN: token,
        ACTIONS_RUNTIME_TOKEN: 'runtime',
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc',
        RUNNER_TRACKING_ID: 'github_abc',
        GITHUB_ENV: '/tmp/should-not-see'
      },
      secrets: [token]
    })
    expect(byId(r, 'T1').status).toBe('merged')
    const env = await readFile(path.join(s.scratch, 'agent-env.txt'), 'utf8')
    expect(env).not.toContain(token)
    expect(env).not.toMatch(/^INPUT_/m)
    expect(env).not.toMatch(/^ACTIONS_(RUNTIME|ID_TOKEN)/m)
    expect(env).not.toMatch(/^GITHUB_ENV=/m)
    expect(env).toMatch(/^RUNNER_TRACKING_ID=github_abc$/m)
    expect(env).toMatch(/^TASK_ID=T1$/m)
    expect(env).toMatch(/^BASE_SHA=[0-9a-f]{40}$/m)
  })
})

describe('run events', () => {
  it('tells a watcher the plan, each start, each task as it finishes, the merge and the end, in order', async () => {
    const s = await setup()
    const events: RunEvent[] = []
    const issue = '- [ ] Add one\n- [ ] Fail two\n- [x] Done three\n- [ ] Nothing four\n'
    const r = await fanout(
      s,
      issue,
      'case "$TASK_ID" in T1) echo one > one.txt ;; T2) exit 3 ;; esac',
      { watch: (event) => events.push(event) }
    )
    expect(r.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed'],
      ['T3', 'skipped'],
      ['T4', 'no-changes']
    ])
    const kinds = events.map((e) => e.kind)
    expect(kinds[0]).toBe('planned')
    expect(kinds.at(-1)).toBe('done')
    expect(kinds.filter((k) => k === 'integrating')).toHaveLength(1)
    const planned = events[0] as Extract<RunEvent, { kind: 'planned' }>
    expect(planned.tasks.map((t) => [t.id, t.action])).toEqual([
      ['T1', 'run'],
      ['T2', 'run'],
      ['T3', 'keep'],
      ['T4', 'run']
    ])
    // One start and one finish per task that ran, the start first; all before the merge.
    const integrating = kinds.indexOf('integrating')
    for (const id of ['T1', 'T2', 'T4']) {
      const started = events.findIndex((e) => e.kind === 'started' && e.taskId === id)
      const finished = events.filter((e) => e.kind === 'finished' && e.result.id === id)
      expect(finished).toHaveLength(1)
      const at = events.indexOf(finished[0])
      expect(started).toBeGreaterThan(0)
      expect(started).toBeLessThan(at)
      expect(at).toBeLessThan(integrating)
      expect(events[started]).toMatchObject({ attempt: 1 })
    }
    expect(events.some((e) => e.kind === 'started' && e.taskId === 'T3')).toBe(false)
    const finished = (id: string) =>
      (
        events.find((e) => e.kind === 'finished' && e.result.id === id) as Extract<
          RunEvent,
          { kind: 'finished' }
        >
      ).result
    expect(finished('T2')).toMatchObject({ status: 'failed', exitCode: 3 })
    expect(finished('T4').status).toBe('no-changes')
    expect(finished('T1').changedFiles).toEqual(['one.txt'])
    // Timing on each task that ran, kept on the final result.
    for (const id of ['T1', 'T2', 'T4']) {
      const t = byId(r, id)
      expect(t.startedAt).toEqual(expect.any(Number))
      expect(t.finishedAt! >= t.startedAt!).toBe(true)
    }
    const done = events.at(-1) as Extract<RunEvent, { kind: 'done' }>
    expect(done.tasks.map((t) => [t.id, t.status])).toEqual(r.tasks.map((t) => [t.id, t.status]))
  })

  it("keeps each 'finished' result as it was then: integration does not rewrite it", async () => {
    const s = await setup()
    const events: RunEvent[] = []
    const r = await fanout(s, '- [ ] One\n- [ ] Two\n', 'echo "$TASK_ID" > README.md', {
      watch: (event) => events.push(event)
    })
    expect(byId(r, 'T2').status).toBe('conflicted')
    const t2 = events.find((e) => e.kind === 'finished' && e.result.id === 'T2') as Extract<
      RunEvent,
      { kind: 'finished' }
    >
    expect(t2.result.status).not.toBe('conflicted')
    expect(t2.result.conflict).toBeUndefined()
  })

  it('keeps running when a watcher throws', async () => {
    const s = await setup()
    const r = await fanout(s, '- [ ] Add one\n', 'echo one > one.txt', {
      watch: () => {
        throw new Error('watcher broke')
      }
    })
    expect(byId(r, 'T1').status).toBe('merged')
    expect(await s.git.out(['show', `${r.integrationSha}:one.txt`])).toBe('one')
  })
})

/** Running (a zombie waiting for a reaper that never comes, as in some containers, is dead). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}
