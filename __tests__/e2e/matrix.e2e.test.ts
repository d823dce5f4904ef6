// The matrix workflow as GitHub Actions would run it: a plan job, task jobs as concurrent
// processes, each in its own shallow clone of one bare origin (as separate runners would have),
// and a merge job in yet another clone; all through dist/index.js and the local API stand-in.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { cp, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
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
import { mountAbility } from '../../src/core/git/overlay.js'

const execFileAsync = promisify(execFile)

const servers: FakeGitHub[] = []
// Probed before the tests are named, so a skip says why in its name.
const overlayAbility = await mountAbility(await tempDir('matrix-probe'))
const noOverlay = overlayAbility.via ? '' : ` (overlay skipped: ${overlayAbility.reason})`
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

const FILES = {
  'README.md': '# Demo\n\nStatus: draft\n',
  'src/a.txt': 'one\ntwo\nthree\n'
}

// Deterministic agent: what it does depends only on the task, so run mode and the matrix
// must come to the same result.
const AGENT = [
  'case "$TASK_ID" in',
  '  T1) echo "one" > one.txt ;;',
  '  T2) sed -i "s/Status: draft/Status: ready/" README.md ;;',
  '  T3) sed -i "s/Status: draft/Status: shipped/" README.md ;;',
  '  T4) echo "cannot do $TASK_ID" >&2; exit 3 ;;',
  '  *) echo "$TASK_TITLE" > "$TASK_ID.txt" ;;',
  'esac'
].join('\n')

// The same agent, reporting what it cost ($TASK_RESULT_FILE, docs/agents.md), the failing task too.
const COSTED_AGENT = [
  'case "$TASK_ID" in T1) cost=0.25 ;; T4) cost=0.125 ;; *) cost=0.5 ;; esac',
  'printf \'{"summary": "Did %s in its own job.", "cost_usd": %s, "input_tokens": 1000, "output_tokens": 50}\' "$TASK_ID" "$cost" > "$TASK_RESULT_FILE"',
  AGENT
].join('\n')

const TASKS = [
  '- [ ] T1: Add one',
  '- [ ] T2: Mark the readme ready',
  '- [ ] T3: Mark the readme shipped',
  '- [ ] T4: Something impossible',
  '- [ ] T5: Add five'
].join('\n')

interface World {
  origin: Origin
  api: FakeGitHub
  env: NodeJS.ProcessEnv
}

async function world(body: string): Promise<World> {
  const origin = await createOrigin(FILES, { commits: 2 })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({ number: 12, title: 'Polish the demo', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return { origin, api, env: isolatedGitEnv(origin.home) }
}

function labeled(w: World): { eventName: string; payload: object } {
  const issue = w.api.issues.get(12)!
  return {
    eventName: 'issues',
    payload: {
      action: 'labeled',
      label: { name: 'agents' },
      issue: { number: 12, title: issue.title, body: issue.body, user: { login: 'author' } },
      repository: { name: w.api.repo, owner: { login: w.api.owner }, default_branch: 'main' },
      sender: { login: 'maintainer', type: 'User' }
    }
  }
}

/** One job: a fresh shallow clone (a fresh runner) and the action with these inputs. */
async function job(
  w: World,
  inputs: Record<string, string>,
  env: Record<string, string> = {}
): Promise<RunActionResult> {
  const workspace = await cloneWorkspace(w.origin, { depth: 1, dir: await tempDir('runner') })
  const event = labeled(w)
  return runAction({
    workspace,
    inputs: { 'agent-command': AGENT, ...inputs },
    eventName: event.eventName,
    payload: event.payload,
    api: w.api,
    env,
    timeoutMs: 180_000
  })
}

const statuses = (r: RunActionResult): [string, string][] =>
  (JSON.parse(r.outputs.tasks) as { id: string; status: string }[]).map((t) => [t.id, t.status])

const tree = (w: World, ref: string): Promise<string> =>
  git(w.origin.bareDir, ['rev-parse', `${ref}^{tree}`], w.env)

const originHas = async (w: World, ref: string): Promise<boolean> =>
  git(w.origin.bareDir, ['rev-parse', '--verify', '--quiet', ref], w.env).then(
    () => true,
    () => false
  )

const statusComment = (w: World): string => {
  const comments = w.api.comments.filter((c) => c.issue_number === 12)
  expect(comments).toHaveLength(1)
  return comments[0].body
}

describe('matrix mode: plan, task × N, merge', () => {
  it('comes to the same statuses and the same tree as run mode, with a failing task and a conflict, and loses no row under concurrent task jobs', async () => {
    // run mode on one runner, for reference
    const single = await world(TASKS)
    const run = await job(single, {})
    expect(run.exitCode).toBe(1) // T4 failed, T3 conflicted: fail-on's default

    const w = await world(TASKS)
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.stderr).toBe('')
    expect(plan.exitCode).toBe(0)
    const matrix = JSON.parse(plan.outputs.matrix) as { include: { task: string }[] }
    expect(matrix).toEqual({
      include: ['T1', 'T2', 'T3', 'T4', 'T5'].map((task) => ({ task }))
    })
    expect(plan.outputs['task-jobs']).toBe('5')
    expect(plan.outputs['issue-number']).toBe('12')
    expect(statusComment(w)).toContain('| T1 | Add one | ⏳ queued |')
    expect(w.api.issues.get(12)!.labels).toContain('fanout:running')
    // The plan created no branch.
    expect(await git(w.origin.bareDir, ['branch', '--list', 'fanout/*'], w.env)).toBe('')

    // Five task jobs at once, each on its own runner.
    const tasks = await Promise.all(
      matrix.include.map(({ task }) =>
        job(w, { mode: 'task', 'task-id': task, 'issue-number': plan.outputs['issue-number'] })
      )
    )
    const byTask = new Map(matrix.include.map(({ task }, i) => [task, tasks[i]]))
    for (const [task, r] of byTask) {
      expect(r.errors.filter((e) => !e.includes('T4 failed'))).toEqual([])
      expect(r.exitCode).toBe(task === 'T4' ? 1 : 0)
    }
    expect(statuses(byTask.get('T1')!)).toEqual([['T1', 'ready']])
    expect(statuses(byTask.get('T4')!)).toEqual([['T4', 'failed']])
    // Every job rewrote the comment; none of their rows was lost.
    const rows = statusComment(w)
    for (const id of ['T1', 'T2', 'T3', 'T5'])
      expect(rows).toMatch(
        new RegExp(`\\| ${id} \\| [^|]+ \\| 📦 done, waiting for the merge job \\|`)
      )
    expect(rows).toMatch(/\| T4 \| [^|]+ \| ❌ failed \|/)
    expect(rows).not.toContain('queued')
    expect(rows).toContain('exited with status 3')
    expect(await originHas(w, 'refs/heads/fanout/issue-12/T1')).toBe(true)
    expect(await originHas(w, 'refs/heads/fanout/issue-12/T4')).toBe(false)
    // Each task job, the failed one too, handed its result over as a note of its own.
    for (const id of ['T1', 'T2', 'T3', 'T4', 'T5'])
      expect(await originHas(w, `refs/notes/agent-fanout/issue-12/${id}`)).toBe(true)

    const merge = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(merge.exitCode).toBe(1)
    expect(statuses(merge)).toEqual(statuses(run))
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'conflicted'],
      ['T4', 'failed'],
      ['T5', 'merged']
    ])
    expect(await tree(w, 'refs/heads/fanout/issue-12/integration')).toBe(
      await tree(single, 'refs/heads/fanout/issue-12/integration')
    )
    // The conflicted task's work is kept on its pushed branch, named in the report.
    expect(await originHas(w, 'refs/heads/fanout/issue-12/T3')).toBe(true)
    const final = statusComment(w)
    expect(final).toContain('README.md')
    expect(final).toContain('fanout/issue-12/T3')
    expect(final).toContain('exited with status 3')
    expect(w.api.pulls).toHaveLength(1)
    expect(w.api.pulls[0].head).toBe('fanout/issue-12/integration')
    expect(merge.outputs['pull-request-number']).toBe(String(w.api.pulls[0].number))
    expect(w.api.issues.get(12)!.labels).toContain('fanout:needs-attention')
    expect(w.api.issues.get(12)!.labels).not.toContain('fanout:running')
    // This plan's notes stay for a re-run of the merge job (the next plan's merge deletes them).
    for (const id of ['T1', 'T2', 'T3', 'T4', 'T5'])
      expect(await originHas(w, `refs/notes/agent-fanout/issue-12/${id}`)).toBe(true)
  }, 300_000)

  it('reports a task whose job never ran as failed, and merges the others', async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T5: Add five\n')
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)
    const t1 = await job(w, { mode: 'task', 'task-id': 'T1', 'issue-number': '12' })
    expect(t1.exitCode).toBe(0)
    // T5's job was cancelled before it started: it left nothing.
    const merge = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T5', 'failed']
    ])
    expect(merge.exitCode).toBe(1)
    const t5 = (JSON.parse(merge.outputs.tasks) as { id: string; reason?: string }[])[1]
    expect(t5.reason).toContain('task job left no result')
    expect(statusComment(w)).toContain('task job left no result')
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '-r', '--name-only', 'refs/heads/fanout/issue-12/integration'],
      w.env
    )
    expect(files.split('\n')).toContain('one.txt')
    expect(files.split('\n')).not.toContain('T5.txt')
    expect(w.api.pulls).toHaveLength(1)

    // "Re-run failed jobs" in the same workflow run: T5's job, then the merge job again, which
    // still finds T1's result where the task job left it.
    expect((await job(w, { mode: 'task', 'task-id': 'T5', 'issue-number': '12' })).exitCode).toBe(0)
    const again = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(statuses(again)).toEqual([
      ['T1', 'merged'],
      ['T5', 'merged']
    ])
    expect(again.exitCode).toBe(0)
    expect(w.api.pulls).toHaveLength(1)
  }, 180_000)

  it('a second plan keeps what the first merged, shows it as recorded, and queues only the task whose text changed', async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T5: Add five\n')
    expect((await job(w, { mode: 'plan', 'agent-command': '' })).exitCode).toBe(0)
    for (const task of ['T1', 'T5'])
      expect((await job(w, { mode: 'task', 'task-id': task, 'issue-number': '12' })).exitCode).toBe(
        0
      )
    const first = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(statuses(first)).toEqual([
      ['T1', 'merged'],
      ['T5', 'merged']
    ])
    const t1 = (JSON.parse(first.outputs.tasks) as Record<string, unknown>[])[0]

    // T5's text changes and the issue is labelled again.
    w.api.issues.get(12)!.body = '- [ ] T1: Add one\n- [ ] T5: Add five, in capitals\n'
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)
    expect(JSON.parse(plan.outputs.matrix)).toEqual({ include: [{ task: 'T5' }] })
    const rows = JSON.parse(plan.outputs.tasks) as Record<string, unknown>[]
    expect(rows.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T5', 'queued']
    ])
    // T1's row is its recorded result, as the first merge job reported it, marked as reused
    // (its agent's starts are not recorded, as in `mode: run`: it did not start this time).
    expect(t1.attempts).toBe(1)
    expect(rows[0]).toEqual({
      ...t1,
      durationMs: rows[0].durationMs,
      reused: true,
      attempts: undefined
    })
    expect(statusComment(w)).toMatch(/\| T1 \| Add one \| [^|]*merged[^|]* \|/)

    expect((await job(w, { mode: 'task', 'task-id': 'T5', 'issue-number': '12' })).exitCode).toBe(0)
    const second = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T5', 'merged']
    ])
    expect(
      await git(w.origin.bareDir, ['show', 'refs/heads/fanout/issue-12/integration:T5.txt'], w.env)
    ).toBe('Add five, in capitals')
    // T1's note belonged to the first plan: this merge job deleted it; T5's is this plan's.
    expect(
      await git(w.origin.bareDir, ['for-each-ref', '--format=%(refname)', 'refs/notes'], w.env)
    ).toBe('refs/notes/agent-fanout/issue-12/T5')
  }, 300_000)

  it("carries each task job's reported cost, tokens and summary to the merge job's report and outputs", async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T4: Something impossible\n- [ ] T5: Add five\n')
    expect((await job(w, { mode: 'plan', 'agent-command': '' })).exitCode).toBe(0)
    for (const task of ['T1', 'T4', 'T5'])
      await job(w, {
        mode: 'task',
        'task-id': task,
        'issue-number': '12',
        'agent-command': COSTED_AGENT
      })
    // Each task job's own row shows what its agent reported.
    const rows = statusComment(w)
    expect(rows).toMatch(/\| T1 \| [^\n]*\| \$0\.2500 \| 1,000 in \/ 50 out \|/)
    expect(rows).toMatch(/\| T4 \| [^\n]*\| \$0\.1250 \| 1,000 in \/ 50 out \|/)

    const merge = await job(w, { mode: 'merge', 'issue-number': '12' })
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T4', 'failed'],
      ['T5', 'merged']
    ])
    // As `mode: run` reports it: per task, the failed one too, and the run's total.
    expect(merge.outputs['total-cost-usd']).toBe('0.875')
    const perTask = JSON.parse(merge.outputs.tasks) as { id: string; costUsd?: number }[]
    expect(perTask.map((t) => [t.id, t.costUsd])).toEqual([
      ['T1', 0.25],
      ['T4', 0.125],
      ['T5', 0.5]
    ])
    const final = statusComment(w)
    expect(final).toMatch(/\| T1 \| [^\n]*\| \$0\.2500 \| 1,000 in \/ 50 out \|/)
    expect(final).toMatch(/\| T4 \| [^\n]*\| \$0\.1250 \| 1,000 in \/ 50 out \|/)
    expect(final).toMatch(/\| T5 \| [^\n]*\| \$0\.5000 \| 1,000 in \/ 50 out \|/)
    expect(final).toContain("Agents' reported cost: $0.8750 · tokens: 3,000 in / 150 out.")
    expect(final).toContain('Did T5 in its own job.')
    expect(w.api.pulls[0].body).toContain("Agents' reported cost: $0.8750")
  }, 240_000)

  it.each(['overlay', 'checkout'] as const)(
    `task jobs in %s worktrees run the setup-command before their agent, which sees its output; nothing of it is merged${noOverlay}`,
    async (mode) => {
      if (mode === 'overlay' && noOverlay) return
      const w = await world('- [ ] T1: Add one\n- [ ] T5: Add five\n')
      expect((await job(w, { mode: 'plan', 'agent-command': '' })).exitCode).toBe(0)
      const setup =
        'mkdir -p node_modules/dep && echo "dep" > node_modules/dep/index.js && echo built > generated.txt'
      // The agent proves it sees what the set-up made, next to its own file.
      const agent = 'cat node_modules/dep/index.js generated.txt > "$TASK_ID.seen"'
      for (const task of ['T1', 'T5']) {
        const r = await job(w, {
          mode: 'task',
          'task-id': task,
          'issue-number': '12',
          'agent-command': agent,
          'worktree-mode': mode,
          'setup-command': setup
        })
        expect(r.exitCode).toBe(0)
        expect(r.stdout).toContain(`Worktrees: ${mode} worktrees (worktree-mode: ${mode}`)
      }
      const merge = await job(w, { mode: 'merge', 'issue-number': '12' })
      expect(statuses(merge)).toEqual([
        ['T1', 'merged'],
        ['T5', 'merged']
      ])
      const branch = 'fanout/issue-12/integration'
      for (const task of ['T1', 'T5'])
        expect(await git(w.origin.bareDir, ['show', `${branch}:${task}.seen`], w.env)).toBe(
          'dep\nbuilt'
        )
      const files = await git(w.origin.bareDir, ['ls-tree', '-r', '--name-only', branch], w.env)
      expect(files.split('\n').sort()).toEqual(['README.md', 'T1.seen', 'T5.seen', 'src/a.txt'])
    },
    240_000
  )

  it('a plan job refuses an invalid task list and creates nothing', async () => {
    const w = await world('- [ ] T1: One\n- [ ] t1: Same ID again\n')
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(1)
    expect(plan.errors.join('\n')).toMatch(/T1/)
    expect(plan.outputs.matrix).toBeUndefined()
    expect(
      await git(w.origin.bareDir, ['for-each-ref', 'refs/heads/fanout', 'refs/notes'], w.env)
    ).toBe('')
    expect(w.api.pulls).toHaveLength(0)
  })

  it('task and merge jobs refuse to work without a plan of their own workflow run', async () => {
    const w = await world('- [ ] T1: Add one\n')
    const early = await job(w, { mode: 'task', 'task-id': 'T1', 'issue-number': '12' })
    expect(early.exitCode).toBe(1)
    expect(early.errors.join('\n')).toContain('No plan found on #12')

    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)
    const other = await job(w, { mode: 'merge', 'issue-number': '12' }, { GITHUB_RUN_ID: '1111' })
    expect(other.exitCode).toBe(1)
    expect(other.errors.join('\n')).toContain('not by this one (1111)')
    const missing = await job(w, { mode: 'task', 'issue-number': '12' })
    expect(missing.exitCode).toBe(1)
    expect(missing.errors.join('\n')).toContain('task-id is required')
    expect(await git(w.origin.bareDir, ['for-each-ref', 'refs/heads/fanout'], w.env)).toBe('')
  })
})

describe('secure mode: agents without write access, results handed over as artifacts', () => {
  it('task jobs write nothing anywhere; the merge job imports their bundles, checks them and publishes', async () => {
    const w = await world(
      '- [ ] T1: Add one\n- [ ] T2: Mark the readme ready\n- [ ] T5: Add five\n'
    )
    const plan = await job(w, { mode: 'plan', 'agent-command': '' })
    expect(plan.exitCode).toBe(0)

    // The agents' jobs: origin is read-only to them (contents: read), and they send the API
    // nothing but reads.
    const before = w.api.requests.length
    const artifacts = await tempDir('artifacts')
    await chmodTree(w.origin.bareDir, false)
    let taskJobs: RunActionResult[]
    try {
      taskJobs = await Promise.all(
        ['T1', 'T2', 'T5'].map((task) =>
          job(w, {
            mode: 'task',
            'task-id': task,
            'issue-number': '12',
            'results-dir': path.join(artifacts, `agent-fanout-${task}`)
          })
        )
      )
    } finally {
      await chmodTree(w.origin.bareDir, true)
    }
    for (const r of taskJobs) {
      expect(r.errors).toEqual([])
      expect(r.exitCode).toBe(0)
    }
    const writes = w.api.requests.slice(before).filter((q) => q.method !== 'GET')
    expect(writes.filter((q) => !q.path.endsWith('/graphql'))).toEqual([])
    expect(
      await git(w.origin.bareDir, ['for-each-ref', 'refs/heads/fanout', 'refs/notes'], w.env)
    ).toBe('')

    // An artifact in the wrong task's folder is not taken for that task.
    await cp(path.join(artifacts, 'agent-fanout-T5'), path.join(artifacts, 'forged'), {
      recursive: true
    })
    await rm(path.join(artifacts, 'agent-fanout-T5'), { recursive: true })
    await cp(path.join(artifacts, 'agent-fanout-T1'), path.join(artifacts, 'agent-fanout-T5'), {
      recursive: true
    })

    const merge = await job(w, { mode: 'merge', 'issue-number': '12', 'results-dir': artifacts })
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T5', 'failed']
    ])
    expect(merge.stdout).toContain('it is not a report of task T5')
    const files = await git(
      w.origin.bareDir,
      ['ls-tree', '-r', '--name-only', 'refs/heads/fanout/issue-12/integration'],
      w.env
    )
    expect(files.split('\n')).toEqual(expect.arrayContaining(['one.txt', 'README.md']))
    expect(
      await git(
        w.origin.bareDir,
        ['show', 'refs/heads/fanout/issue-12/integration:README.md'],
        w.env
      )
    ).toContain('Status: ready')
    expect(await originHas(w, 'refs/heads/fanout/issue-12/T1')).toBe(true)
    expect(w.api.pulls).toHaveLength(1)
  }, 240_000)

  it('a failed task whose work was kept on its branch reaches origin through its bundle', async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T2: Wander off\n')
    // T2 writes its work, then switches its worktree to a branch of its own: it fails, and
    // its work is saved on its task branch (collect.ts), which only the merge job can push.
    const agent = [
      'echo "$TASK_TITLE" > "$TASK_ID.txt"',
      'if [ "$TASK_ID" = T2 ]; then git switch -q -c elsewhere; fi'
    ].join('\n')
    expect((await job(w, { mode: 'plan', 'agent-command': '' })).exitCode).toBe(0)
    const artifacts = await tempDir('artifacts')
    for (const task of ['T1', 'T2']) {
      const r = await job(w, {
        mode: 'task',
        'task-id': task,
        'issue-number': '12',
        'agent-command': agent,
        'results-dir': path.join(artifacts, `agent-fanout-${task}`)
      })
      // A task job whose task failed fails (fail-on), after writing its result.
      expect(r.exitCode).toBe(task === 'T1' ? 0 : 1)
    }
    const merge = await job(w, { mode: 'merge', 'issue-number': '12', 'results-dir': artifacts })
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed']
    ])
    const t2 = (JSON.parse(merge.outputs.tasks) as { id: string; reason?: string }[])[1]
    expect(t2.reason).toMatch(/switched its worktree to branch elsewhere/)
    expect(
      await git(w.origin.bareDir, ['show', 'refs/heads/fanout/issue-12/T2:T2.txt'], w.env)
    ).toBe('Wander off')
  }, 240_000)

  it("carries the task jobs' reported cost to the merge job, and checks what an artifact claims", async () => {
    const w = await world('- [ ] T1: Add one\n- [ ] T5: Add five\n')
    expect((await job(w, { mode: 'plan', 'agent-command': '' })).exitCode).toBe(0)
    const artifacts = await tempDir('artifacts')
    for (const task of ['T1', 'T5'])
      expect(
        (
          await job(w, {
            mode: 'task',
            'task-id': task,
            'issue-number': '12',
            'agent-command': COSTED_AGENT,
            'results-dir': path.join(artifacts, `agent-fanout-${task}`)
          })
        ).exitCode
      ).toBe(0)
    // T5's job ran next to its agent: what its artifact claims is not taken as it is.
    const forged = path.join(artifacts, 'agent-fanout-T5', 'report.json')
    const report = JSON.parse(await readFile(forged, 'utf8')) as Record<string, unknown>
    expect(report.agentReport).toEqual(
      expect.objectContaining({ costUsd: 0.5, summary: 'Did T5 in its own job.' })
    )
    report.agentReport = {
      costUsd: -1000,
      inputTokens: 1.5,
      outputTokens: 50,
      summary: 'Merged.\n\n## Approved by the maintainers\n\u202e'
    }
    await writeFile(forged, JSON.stringify(report))

    const merge = await job(w, { mode: 'merge', 'issue-number': '12', 'results-dir': artifacts })
    expect(statuses(merge)).toEqual([
      ['T1', 'merged'],
      ['T5', 'merged']
    ])
    expect(merge.outputs['total-cost-usd']).toBe('0.25')
    const final = statusComment(w)
    expect(final).toMatch(/\| T1 \| [^\n]*\| \$0\.2500 \| 1,000 in \/ 50 out \|/)
    expect(final).toMatch(/\| T5 \| [^\n]*\| – \| \? in \/ 50 out \|/)
    expect(final).toContain("Agents' reported cost: $0.2500 (1 of 2 tasks reported one)")
    expect(final).toContain('Did T1 in its own job.')
    expect(final).toContain('Merged. ## Approved by the maintainers')
    expect(final).not.toMatch(/^## Approved/m)
    expect(final).not.toContain('\u202e')
  }, 240_000)

  it('refuses a secure merge job that would run agent-made code next to the write token', async () => {
    const w = await world('- [ ] T1: Add one\n')
    const r = await job(w, {
      mode: 'merge',
      'issue-number': '12',
      'results-dir': 'results',
      'conflict-strategy': 'rerun,report',
      'verify-command': 'npm test'
    })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(
      'remove conflict-strategy rerun, verify-command from the merge job'
    )
  })
})

/** Makes a directory tree read-only (or writable again), as a contents: read token would. */
async function chmodTree(dir: string, writable: boolean): Promise<void> {
  await execFileAsync('chmod', ['-R', writable ? 'u+w' : 'a-w', dir])
}
