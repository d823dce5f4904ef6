// Tasks that depend on tasks, through the bundled action (dist/index.js) as the runner runs it:
// a chain whose last agent checks it sees the earlier tasks' files, a diamond, a failed
// dependency, a cycle, a retry, and the matrix jobs coming to the same tree as run mode.
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

const PREFIX = 'fanout/issue-12'

interface World {
  origin: Origin
  api: FakeGitHub
  scratch: string
  env: NodeJS.ProcessEnv
}

async function world(body: string): Promise<World> {
  const origin = await createOrigin({ 'README.md': '# Demo\n' }, { commits: 2 })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({ number: 12, title: 'Build in steps', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return { origin, api, scratch: await tempDir('deps-scratch'), env: isolatedGitEnv(origin.home) }
}

function event(w: World, comment?: string): { eventName: string; payload: object } {
  const issue = w.api.issues.get(12)!
  const base = {
    issue: { number: 12, title: issue.title, body: issue.body, user: { login: 'author' } },
    repository: { name: w.api.repo, owner: { login: w.api.owner }, default_branch: 'main' },
    sender: { login: 'maintainer', type: 'User' }
  }
  if (comment === undefined)
    return {
      eventName: 'issues',
      payload: { action: 'labeled', label: { name: 'agents' }, ...base }
    }
  const c = w.api.addComment(12, comment, { login: 'maintainer', type: 'User' })
  return {
    eventName: 'issue_comment',
    payload: {
      action: 'created',
      comment: { id: c.id, body: comment, user: { login: 'maintainer', type: 'User' } },
      ...base
    }
  }
}

/** One job on a fresh runner: a shallow clone and the action with these inputs. */
async function act(
  w: World,
  agent: string,
  inputs: Record<string, string> = {},
  comment?: string
): Promise<RunActionResult> {
  const workspace = await cloneWorkspace(w.origin, { depth: 1, dir: await tempDir('runner') })
  const e = event(w, comment)
  return runAction({
    workspace,
    inputs: { 'agent-command': agent, ...inputs },
    eventName: e.eventName,
    payload: e.payload,
    api: w.api,
    env: { SCRATCH: w.scratch },
    timeoutMs: 180_000
  })
}

interface TaskOut {
  id: string
  status: string
  reason?: string
  changedFiles: string[]
}
const tasksOf = (r: RunActionResult): TaskOut[] => JSON.parse(r.outputs.tasks) as TaskOut[]
const statuses = (r: RunActionResult): [string, string][] => tasksOf(r).map((t) => [t.id, t.status])

const originGit = (w: World, args: string[]): Promise<string> => git(w.origin.bareDir, args, w.env)
const filesOn = async (w: World, ref: string): Promise<string[]> =>
  (await originGit(w, ['ls-tree', '-r', '--name-only', ref])).split('\n')

/** The tree `git merge --no-ff` of the task branches on origin, in this order, gives. */
async function gitMergeTree(w: World, ids: string[]): Promise<string> {
  const dir = await cloneWorkspace(w.origin, { depth: 0, dir: await tempDir('reference') })
  for (const id of ids)
    await git(dir, ['merge', '-q', '--no-ff', '-m', `merge ${id}`, `origin/${PREFIX}/${id}`], w.env)
  return git(dir, ['rev-parse', 'HEAD^{tree}'], w.env)
}

const statusComment = (w: World): string =>
  w.api.comments.filter((c) => c.body.includes('<!-- agent-fanout:status issue=12 -->')).at(-1)
    ?.body ?? ''

// Each task writes its own file; a task that needs files of others checks they are there
// (exit 5 names what is missing). Every start leaves a mark and a copy of its prompt.
const AGENT = [
  'touch "$SCRATCH/ran-$TASK_ID"',
  'cp "$TASK_PROMPT_FILE" "$SCRATCH/prompt-$TASK_ID.md"',
  'need() { for f in "$@"; do test -f "$f" || { echo "$TASK_ID cannot see $f" >&2; exit 5; }; done; }',
  'case "$TASK_ID" in',
  '  T1) ;;',
  '  T2) need t1.txt ;;',
  '  T3) need t1.txt t2.txt ;;',
  '  T4) test ! -f t1.txt || { echo "T4 sees t1.txt" >&2; exit 6; } ;;',
  'esac',
  'echo "$TASK_ID" > "$(echo "$TASK_ID" | tr T t).txt"'
].join('\n')

describe('tasks that depend on tasks (run mode)', () => {
  it("a chain T1 → T2 → T3: each agent sees the files of the tasks before it, the independent one does not, and the integration branch is git's merge in dependency order", async () => {
    // Listed out of order: T3 comes first, so list order is not dependency order.
    const w = await world(
      [
        '- [ ] T3: Use both (after T2)',
        '- [ ] T1: Lay the ground',
        '- [ ] T2: Build on it',
        '  depends on: T1',
        '- [ ] T4: Something else'
      ].join('\n')
    )
    const r = await act(w, AGENT)
    expect(r.errors).toEqual([])
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T3', 'merged'],
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T4', 'merged']
    ])
    // What a task changed is counted from where it started: its own file only.
    expect(tasksOf(r).map((t) => t.changedFiles)).toEqual([
      ['t3.txt'],
      ['t1.txt'],
      ['t2.txt'],
      ['t4.txt']
    ])
    const integration = `refs/heads/${PREFIX}/integration`
    expect(await filesOn(w, integration)).toEqual([
      'README.md',
      't1.txt',
      't2.txt',
      't3.txt',
      't4.txt'
    ])
    expect(await originGit(w, ['rev-parse', `${integration}^{tree}`])).toBe(
      await gitMergeTree(w, ['T1', 'T2', 'T3', 'T4'])
    )
    // Merged in dependency order: T1, T2, T3 (then T4), one merge commit each.
    const merges = await originGit(w, ['log', '--first-parent', '--format=%s', integration])
    expect(merges.split('\n').slice(0, 4).reverse()).toEqual([
      'Merge task T1: Lay the ground',
      'Merge task T2: Build on it',
      'Merge task T3: Use both',
      'Merge task T4: Something else'
    ])
    // The prompt names what a task builds on; the report shows each task's dependencies.
    const prompt = await readFile(path.join(w.scratch, 'prompt-T3.md'), 'utf8')
    expect(prompt).toContain('## Tasks this one builds on: T2')
    expect(prompt).toContain('- T2: Build on it')
    const report = statusComment(w)
    expect(report).toContain('| Task | Title | After | Status |')
    expect(report).toMatch(/\| T3 \| Use both \| T2 \| ✅ merged \|/)
    expect(report).toMatch(/\| T4 \| Something else \| – \| ✅ merged \|/)
  }, 240_000)

  it('a diamond: the join starts from the merge of both sides and sees every file', async () => {
    const w = await world(
      [
        '- [ ] T9: Join (after T2, T3)',
        '- [ ] T1: Ground',
        '- [ ] T2: Left (after T1)',
        '- [ ] T3: Right (after T1)'
      ].join('\n')
    )
    const agent = AGENT.replace('  T1) ;;', '  T1) ;;\n  T9) need t1.txt t2.txt t3.txt ;;').replace(
      '  T3) need t1.txt t2.txt ;;',
      '  T3) need t1.txt; test ! -f t2.txt || exit 7 ;;'
    )
    const r = await act(w, agent)
    expect(r.errors).toEqual([])
    expect(statuses(r).map(([, s]) => s)).toEqual(['merged', 'merged', 'merged', 'merged'])
    expect(tasksOf(r)[0].changedFiles).toEqual(['t9.txt'])
    expect(await originGit(w, ['rev-parse', `refs/heads/${PREFIX}/integration^{tree}`])).toBe(
      await gitMergeTree(w, ['T1', 'T2', 'T3', 'T9'])
    )
  }, 240_000)

  it('a failed dependency: its dependents are skipped without starting, with the chain, and the rest merges', async () => {
    const w = await world(
      [
        '- [ ] T1: Fails',
        '- [ ] T2: Needs T1 (after T1)',
        '- [ ] T3: Needs T2 (after T2)',
        '- [ ] T4: Independent'
      ].join('\n')
    )
    const r = await act(w, AGENT.replace('  T1) ;;', '  T1) echo "T1 broke" >&2; exit 3 ;;'))
    expect(r.exitCode).toBe(1)
    expect(tasksOf(r).map((t) => [t.id, t.status, t.reason])).toEqual([
      ['T1', 'failed', 'agent exited with status 3'],
      ['T2', 'skipped', 'T1 failed'],
      ['T3', 'skipped', 'T2 skipped (T1 failed)'],
      ['T4', 'merged', undefined]
    ])
    expect(existsSync(path.join(w.scratch, 'ran-T2'))).toBe(false)
    expect(existsSync(path.join(w.scratch, 'ran-T3'))).toBe(false)
    const report = statusComment(w)
    expect(report).toContain('⏭️ T3: Needs T2')
    expect(report).toContain('it builds on T2, and T2 skipped (T1 failed).')
    expect(await filesOn(w, `refs/heads/${PREFIX}/integration`)).toEqual(['README.md', 't4.txt'])
  }, 240_000)

  it('a cycle is an error naming the tasks, before any agent starts', async () => {
    const w = await world(
      ['- [ ] T1: One (after T3)', '- [ ] T2: Two', '- [ ] T3: Three (after T1)'].join('\n')
    )
    const r = await act(w, AGENT)
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(
      'Tasks depend on each other in a cycle: T1 → T3 → T1. Remove one of these dependencies.'
    )
    expect(existsSync(path.join(w.scratch, 'ran-T2'))).toBe(false)
    expect(statusComment(w)).toContain('cycle: T1 → T3 → T1')
    expect(await originGit(w, ['branch', '--list', 'fanout/*'])).toBe('')
  }, 120_000)

  it('/fanout retry T1 runs the tasks built on T1 again, on top of its new work', async () => {
    const w = await world(
      ['- [ ] T1: Ground', '- [ ] T2: Next (after T1)', '- [ ] T4: Other'].join('\n')
    )
    // The agent writes a generation number, so a re-run is seen in the files.
    const agent = AGENT.replace(
      'echo "$TASK_ID" >',
      'n=$(cat "$SCRATCH/gen-$TASK_ID" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$SCRATCH/gen-$TASK_ID"; echo "$TASK_ID $n $(cat t1.txt 2>/dev/null)" >'
    )
    const first = await act(w, agent)
    expect(statuses(first).map(([, s]) => s)).toEqual(['merged', 'merged', 'merged'])
    const retry = await act(w, agent, {}, '/fanout retry T1')
    expect(retry.errors).toEqual([])
    expect(tasksOf(retry).map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T4', 'merged']
    ])
    const integration = `refs/heads/${PREFIX}/integration`
    expect(await originGit(w, ['show', `${integration}:t1.txt`])).toBe('T1 2')
    // T2 ran again, from T1's new work; T4 was reused.
    expect(await originGit(w, ['show', `${integration}:t2.txt`])).toBe('T2 2 T1 2')
    expect(await readFile(path.join(w.scratch, 'gen-T4'), 'utf8')).toBe('1\n')
  }, 240_000)
})

describe('tasks that depend on tasks (matrix mode)', () => {
  it('rounds of plan, task jobs and merge come to the same tree as run mode', async () => {
    const body = [
      '- [ ] T3: Use both (after T2)',
      '- [ ] T1: Lay the ground',
      '- [ ] T2: Build on it (after T1)',
      '- [ ] T4: Something else'
    ].join('\n')
    const single = await world(body)
    const run = await act(single, AGENT)
    expect(run.exitCode).toBe(0)

    const w = await world(body)
    const rounds: string[][] = []
    const pending: string[] = []
    let firstMerge: RunActionResult | undefined
    let firstPlan = ''
    let merge: RunActionResult | undefined
    for (let round = 0; round < 5; round++) {
      const plan = await act(w, '', { mode: 'plan' })
      expect(plan.errors).toEqual([])
      const matrix = JSON.parse(plan.outputs.matrix) as { include: { task: string }[] }
      if (round === 0) firstPlan = statusComment(w)
      rounds.push(matrix.include.map((m) => m.task))
      const jobs = await Promise.all(
        matrix.include.map(({ task }) =>
          act(w, AGENT, { mode: 'task', 'task-id': task, 'issue-number': '12' })
        )
      )
      for (const j of jobs) expect(j.errors).toEqual([])
      // The merge job runs no agent (its command is what a conflict strategy would use).
      merge = await act(w, AGENT, { mode: 'merge', 'issue-number': '12' })
      expect(merge.errors).toEqual([])
      pending.push(merge.outputs['pending-tasks'])
      if (round === 0) firstMerge = merge
      if (merge.outputs['pending-tasks'] === '[]') break
    }
    expect(pending).toEqual(['["T3","T2"]', '["T3"]', '[]'])
    // The plan job's table already names what each task builds on, as run mode's does.
    expect(firstPlan).toContain('| Task | Title | After | Status |')
    expect(firstPlan).toMatch(/\| T3 \| Use both \| T2 \| ⏳ queued \|/)
    expect(firstPlan).toMatch(/\| T1 \| Lay the ground \| – \| ⏳ queued \|/)
    // After the first round T2 can start next; T3 waits for T2: both queued, saying for what.
    expect(statuses(firstMerge!)).toEqual([
      ['T3', 'queued'],
      ['T1', 'merged'],
      ['T2', 'queued'],
      ['T4', 'merged']
    ])
    expect(tasksOf(firstMerge!)[0].reason).toBe(
      'waits for T2: it starts in the next run, from their merged work'
    )
    // One round per level of the chain: a task job starts once its dependencies are merged.
    expect(rounds).toEqual([['T1', 'T4'], ['T2'], ['T3']])
    expect(statuses(merge!)).toEqual(statuses(run))
    expect(await originGit(w, ['rev-parse', `refs/heads/${PREFIX}/integration^{tree}`])).toBe(
      await originGit(single, ['rev-parse', `refs/heads/${PREFIX}/integration^{tree}`])
    )
  }, 600_000)
})
