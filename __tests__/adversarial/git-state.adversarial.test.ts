// Reliability guide §7, git and task-list state: lock contention (#16), stale state of a killed
// run (#17), hostile task names (#18), a re-run of the same workflow run (#20), conflicts (#22),
// empty and whitespace-only work (#25), a report too long for one comment (#34) and task lists
// with far too many or hidden checkboxes (#36).
import { describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { cloneWorkspace, git, tempDir } from '../../test-support/git-fixtures.js'
import {
  INTEGRATION,
  PREFIX,
  act,
  originBranches,
  section,
  showOnOrigin,
  statusComments,
  statuses,
  tasksOutput,
  useCleanup,
  world
} from './support.js'

useCleanup()

const WRITE_TASK = 'echo "$TASK_ID" > "$TASK_ID.txt"'
const taskBranches = (ids: string[]): string[] => ids.map((id) => `${PREFIX}/${id}`)
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `T${i + 1}`)
const worktreePaths = async (dir: string, env: NodeJS.ProcessEnv): Promise<string[]> =>
  (await git(dir, ['worktree', 'list', '--porcelain'], env))
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length))

describe('#16 lock contention at startup', () => {
  it('#16 with .git/config.lock held during the run, all 16 worktrees are created and the run succeeds', async () => {
    const w = await world(
      ids(16)
        .map((id) => `- [ ] Task ${id}`)
        .join('\n')
    )
    const lock = path.join(w.workspace, '.git', 'config.lock')
    await writeFile(lock, '')
    try {
      const r = await act(w, WRITE_TASK, { inputs: { 'max-parallel': '16' } })
      expect(r.exitCode).toBe(0)
      expect(statuses(r)).toEqual(ids(16).map((id) => [id, 'merged']))
      expect(await originBranches(w)).toEqual(
        [...taskBranches(ids(16)), INTEGRATION, 'main'].sort()
      )
      // Someone else's lock is left alone.
      expect(existsSync(lock)).toBe(true)
    } finally {
      await rm(lock, { force: true })
    }
  })
})

describe('#17 stale state from a killed run at the same place', () => {
  it('#17 a locked "initializing" worktree, a stale index.lock, a missing registered directory and leftover branches are cleaned; foreign worktrees are kept', async () => {
    const w = await world('- [ ] First\n- [ ] Second\n- [ ] Third\n')
    const runnerTemp = await tempDir('runner-temp')
    const root = path.join(runnerTemp, 'agent-fanout', 'issue-12', 'worktrees')
    const stale = path.join(root, 'T1')
    await git(w.workspace, ['worktree', 'add', '-q', '-b', `${PREFIX}/T1`, stale, 'HEAD'], w.env)
    await git(w.workspace, ['worktree', 'lock', '--reason', 'initializing', stale], w.env)
    await writeFile(path.join(stale, 'junk.txt'), 'left over by the killed run\n')
    await writeFile(path.join(w.workspace, '.git', 'worktrees', 'T1', 'index.lock'), '')
    const vanished = path.join(root, 'T2')
    await git(w.workspace, ['worktree', 'add', '-q', '--detach', vanished, 'HEAD'], w.env)
    await rm(vanished, { recursive: true, force: true })
    await git(w.workspace, ['branch', `${PREFIX}/T3`, 'HEAD'], w.env)
    const foreign = path.join(await tempDir('foreign'), 'wt')
    await git(w.workspace, ['worktree', 'add', '-q', '--detach', foreign, 'HEAD'], w.env)

    const r = await act(w, WRITE_TASK, { runnerTemp })
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    // The stale worktree's leftovers did not leak into the task's work.
    expect(tasksOutput(r)[0].changedFiles).toEqual(['T1.txt'])
    expect(r.stdout).toMatch(/Removing stale worktree .*T1/)
    expect(await worktreePaths(w.workspace, w.env)).toEqual([w.workspace, foreign])
    expect(existsSync(path.join(foreign, 'README.md'))).toBe(true)
    expect(existsSync(stale)).toBe(false)
    expect(await originBranches(w)).toEqual(
      [...taskBranches(['T1', 'T2', 'T3']), INTEGRATION, 'main'].sort()
    )
  })
})

describe('#18 hostile task titles and IDs', () => {
  it('#18 colliding, path-like, option-like, ref-like, 300-character and emoji-only titles get T1..Tn, distinct branches and private worktrees', async () => {
    const titles = [
      'Fix API',
      'fix api',
      'fix-api',
      '../../etc',
      '-f',
      '@{u}',
      'refs/heads/main',
      'a.lock',
      `Long ${'x'.repeat(295)}`,
      '🔥🚀✨'
    ]
    expect(titles[8]).toHaveLength(300)
    const w = await world(titles.map((t) => `- [ ] ${t}`).join('\n'))
    const mainBefore = await git(w.origin.bareDir, ['rev-parse', 'refs/heads/main'], w.env)
    const runnerTemp = await tempDir('runner-temp')
    const agent = [
      'pwd -P > "$SCRATCH/pwd-$TASK_ID"',
      'printf "%s" "$TASK_BRANCH" > "$SCRATCH/branch-$TASK_ID"',
      WRITE_TASK
    ].join('; ')
    const r = await act(w, agent, { runnerTemp })
    expect(r.exitCode).toBe(0)
    const tasks = tasksOutput(r)
    expect(tasks.map((t) => t.id)).toEqual(ids(10))
    expect(tasks.map((t) => t.title)).toEqual(titles)
    expect(tasks.every((t) => t.status === 'merged')).toBe(true)
    const privateRoot = path.join(runnerTemp, 'agent-fanout', 'issue-12', 'worktrees') + path.sep
    for (const id of ids(10)) {
      const cwd = (await readFile(path.join(w.scratch, `pwd-${id}`), 'utf8')).trim()
      expect(cwd).toBe(path.join(privateRoot, id))
      expect(await readFile(path.join(w.scratch, `branch-${id}`), 'utf8')).toBe(`${PREFIX}/${id}`)
    }
    expect(await originBranches(w)).toEqual([...taskBranches(ids(10)), INTEGRATION, 'main'].sort())
    expect(await git(w.origin.bareDir, ['rev-parse', 'refs/heads/main'], w.env)).toBe(mainBefore)
  })

  it('#18 explicit IDs T1: and t1: are refused naming both items, and nothing is pushed', async () => {
    const w = await world('- [ ] T1: First thing\n- [ ] t1: Second thing\n- [ ] Third thing\n')
    const r = await act(w, 'echo ran > "$SCRATCH/ran-$TASK_ID"; ' + WRITE_TASK)
    expect(r.exitCode).toBe(1)
    const error = r.errors.join('\n')
    expect(error).toMatch(/Duplicate task ID/)
    expect(error).toContain('"First thing"')
    expect(error).toContain('"Second thing"')
    expect(error).toMatch(/item 1\b/)
    expect(error).toMatch(/item 2\b/)
    expect(await readdir(w.scratch)).toEqual([])
    expect(await originBranches(w)).toEqual(['main'])
    expect(w.api.pulls).toHaveLength(0)
    expect(statusComments(w)[0]?.body).toMatch(/Duplicate task ID/)
  })
})

describe('#20 re-run of the same workflow run', () => {
  it('#20 run attempt 2 with identical inputs updates the one pull request and the one status comment', async () => {
    const w = await world('- [ ] First\n- [ ] Second\n')
    const first = await act(w, WRITE_TASK)
    expect(first.exitCode).toBe(0)
    const treeBefore = await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}^{tree}`], w.env)
    // A re-run gets a fresh runner: a new checkout of the same commit.
    const second = await act(w, WRITE_TASK, {
      workspace: await cloneWorkspace(w.origin, { depth: 1 }),
      env: { GITHUB_RUN_ATTEMPT: '2' }
    })
    expect(second.exitCode).toBe(0)
    expect(w.api.pulls).toHaveLength(1)
    expect(w.api.requestsMatching('POST', /\/pulls$/)).toHaveLength(1)
    expect(statusComments(w)).toHaveLength(1)
    expect(w.api.requestsMatching('POST', /\/issues\/12\/comments$/)).toHaveLength(1)
    expect(second.outputs['pull-request-number']).toBe(first.outputs['pull-request-number'])
    expect(second.outputs['status-comment-id']).toBe(first.outputs['status-comment-id'])
    // The permission check ran again for the re-run.
    expect(w.api.requestsMatching('GET', /\/collaborators\/maintainer\/permission$/)).toHaveLength(
      2
    )
    // Branches converge on the same result.
    expect(await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}^{tree}`], w.env)).toBe(
      treeBefore
    )
    expect(statuses(second)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
  })
})

describe('#22 conflicting tasks with an independent one', () => {
  const AGENT = [
    'case "$TASK_ID" in',
    '  T1) sed -i "s/Status: draft/Status: stable/" README.md ;;',
    '  T2) sed -i "s/Status: draft/Status: beta/" README.md ;;',
    '  T3) sed -i "s/Status: draft/Status: rc/" README.md ;;',
    '  T4) echo four >> src/a.txt ;;',
    'esac'
  ].join('\n')
  const BODY = '- [ ] Make it stable\n- [ ] Make it beta\n- [ ] Make it rc\n- [ ] Another file\n'

  it('#22 one conflict report per conflicting task naming the file and its pushed branch; the others merge', async () => {
    const w = await world(BODY)
    const r = await act(w, AGENT)
    expect(r.exitCode).toBe(1)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted'],
      ['T3', 'conflicted'],
      ['T4', 'merged']
    ])
    const body = statusComments(w)[0].body
    for (const [id, status] of [
      ['T2', 'beta'],
      ['T3', 'rc']
    ]) {
      expect(body.split(`#### ⚠️ ${id}:`)).toHaveLength(2)
      const report = section(body, `#### ⚠️ ${id}:`)
      expect(report).toContain('`README.md`')
      expect(report).toContain(`\`${PREFIX}/${id}\``)
      expect(await showOnOrigin(w, `${PREFIX}/${id}`, 'README.md')).toContain(`Status: ${status}`)
    }
    expect(body).not.toContain('#### ⚠️ T1:')
    expect(body).not.toContain('#### ⚠️ T4:')
    expect(await showOnOrigin(w, INTEGRATION, 'README.md')).toContain('Status: stable')
    expect(await showOnOrigin(w, INTEGRATION, 'src/a.txt')).toContain('four')
  })

  // Guide #22: "one conflict report per conflicting task naming files and the other task". The
  // report names the integration branch as the other side, never the task (T1) whose merged
  // change it collides with, although the engine knows it (it computes it for the resolve prompt).
  it('#22 each conflict report names the task it conflicts with', async () => {
    const w = await world(BODY)
    const r = await act(w, AGENT)
    expect(r.exitCode).toBe(1)
    const body = statusComments(w)[0].body
    for (const id of ['T2', 'T3']) {
      expect(section(body, `#### ⚠️ ${id}:`)).toMatch(/\bT1\b/)
    }
  })
})

describe('#25 no changes and whitespace-only changes', () => {
  it('#25 an agent that changes nothing (or commits nothing) is no-changes with no branch; whitespace-only is a real change that merges', async () => {
    const w = await world('- [ ] Do nothing\n- [ ] Trailing spaces\n- [ ] Empty commit\n')
    const agent = [
      'case "$TASK_ID" in',
      '  T1) true ;;',
      '  T2) sed -i "s/^two$/two  /" src/a.txt ;;',
      '  T3) git commit -q --allow-empty -m "nothing to see" ;;',
      'esac'
    ].join('\n')
    const r = await act(w, agent)
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'no-changes'],
      ['T2', 'merged'],
      ['T3', 'no-changes']
    ])
    expect(tasksOutput(r)[1].changedFiles).toEqual(['src/a.txt'])
    expect(await showOnOrigin(w, INTEGRATION, 'src/a.txt')).toBe('one\ntwo  \nthree')
    expect(await originBranches(w)).toEqual([`${PREFIX}/T2`, INTEGRATION, 'main'].sort())
    const body = statusComments(w)[0].body
    expect(body).toMatch(/\| T1 \| Do nothing \| ➖ no changes \|/)
    expect(body).toMatch(/\| T3 \| Empty commit \| ➖ no changes \|/)
  })
})

describe('#34 a report too long for one comment', () => {
  it('#34 25 tasks all conflicting with T1 on a 2 KB line: the status comment is accepted and keeps every task row', async () => {
    const n = 25
    const w = await world(
      ids(n)
        .map((id) => `- [ ] Rewrite the status line (${id})`)
        .join('\n')
    )
    const agent = [
      'line="Status: $TASK_ID $(printf "lorem-ipsum-$TASK_ID-%.0s" $(seq 1 120))"',
      'printf "# Demo\\n\\n%s\\n" "$line" > README.md'
    ].join('\n')
    const r = await act(w, agent, { inputs: { 'max-tasks': String(n), 'max-parallel': '8' } })
    expect(r.exitCode).toBe(1)
    expect(statuses(r)).toEqual(ids(n).map((id) => [id, id === 'T1' ? 'merged' : 'conflicted']))
    // One create, accepted by the stand-in (which answers 422 above 65,536 characters).
    expect(w.api.requestsMatching('POST', /\/issues\/12\/comments$/)).toHaveLength(1)
    const comments = statusComments(w)
    expect(comments).toHaveLength(1)
    const body = comments[0].body
    expect(Array.from(body).length).toBeLessThanOrEqual(65536)
    for (const id of ids(n)) expect(body).toMatch(new RegExp(`^\\| ${id} \\| `, 'm'))
    // Where the rest is: the workflow run.
    expect(body).toContain('/actions/runs/9876543210')
    // And no conflicted task's work is lost.
    expect(await originBranches(w)).toEqual([...taskBranches(ids(n)), INTEGRATION, 'main'].sort())
  })
})

describe('#36 too many, nested, fenced, quoted and hidden checkboxes', () => {
  const HIDDEN_ITEMS = [
    '',
    '```md',
    '- [ ] fenced',
    '```',
    '',
    '<details><summary>later</summary>',
    '',
    '- [ ] hidden in details',
    '',
    '</details>',
    '',
    '> - [ ] quoted',
    '',
    '<!-- - [ ] commented -->',
    ''
  ]

  it('#36 only unchecked top-level items count: 3 of them with max-tasks 3 run exactly those', async () => {
    const body = [
      '- [ ] Alpha',
      '  - [ ] nested under alpha',
      '- [x] Done already',
      '- [ ] Beta',
      ...HIDDEN_ITEMS,
      '- [ ] Gamma',
      ''
    ].join('\n')
    const w = await world(body)
    const r = await act(w, 'echo "$TASK_TITLE" > "$SCRATCH/ran-$TASK_ID"; ' + WRITE_TASK, {
      inputs: { 'max-tasks': '3' }
    })
    expect(r.exitCode).toBe(0)
    expect(tasksOutput(r).map((t) => [t.id, t.title, t.status])).toEqual([
      ['T1', 'Alpha', 'merged'],
      ['T2', 'Done already', 'skipped'],
      ['T3', 'Beta', 'merged'],
      ['T4', 'Gamma', 'merged']
    ])
    expect((await readdir(w.scratch)).sort()).toEqual(['ran-T1', 'ran-T3', 'ran-T4'])
  })

  it('#36 500 open tasks among hidden ones are refused naming max-tasks, and nothing is started or pushed', async () => {
    const body = [
      ...Array.from({ length: 500 }, (_, i) => `- [ ] task number ${i + 1}`),
      '- [x] done one',
      '- [x] done two',
      '  - [ ] nested under a done one',
      ...HIDDEN_ITEMS
    ].join('\n')
    const w = await world(body)
    const r = await act(w, 'echo ran > "$SCRATCH/ran-$TASK_ID"; ' + WRITE_TASK)
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toMatch(/500 open tasks, more than max-tasks \(20\)/)
    expect(await readdir(w.scratch)).toEqual([])
    expect(await originBranches(w)).toEqual(['main'])
    expect(w.api.pulls).toHaveLength(0)
    expect(statusComments(w)[0].body).toMatch(/max-tasks/)
  })
})
