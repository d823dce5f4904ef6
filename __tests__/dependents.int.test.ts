// The agent stage with dependencies, with real git: fake agents that commit files on the start
// commit they are given, and record what they found there.

import { afterAll, describe, expect, it } from '@jest/globals'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Git } from '../src/core/git/git.js'
import { runWithDependencies, type DependencyState } from '../src/core/run/dependents.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { Task } from '../src/core/types.js'
import { git, isolatedGitEnv, removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

type Outcome = { id: string; tip?: string; says?: string; saw?: string[]; skipped?: string }

async function setup(list: string[]) {
  const dir = await tempDir('dependents')
  const env = isolatedGitEnv(await tempDir('dependents-home'))
  await git(dir, ['init', '-q', '--initial-branch=main'], env)
  await writeFile(path.join(dir, 'base.txt'), 'base\n')
  await git(dir, ['add', '-A'], env)
  await git(dir, ['commit', '-q', '-m', 'base'], env)
  const baseSha = await git(dir, ['rev-parse', 'HEAD'], env)
  const tasks = parseTaskList(list.join('\n')).tasks
  return { dir, env, baseSha, tasks, git: new Git(dir, { env }) }
}

/**
 * Runs the tasks with a fake agent: a commit on its start adding `<id>.txt` (or, for ids in
 * `write`, the given files); ids in `fail` fail, ids in `idle` change nothing.
 */
async function run(
  s: Awaited<ReturnType<typeof setup>>,
  opts: {
    fail?: string[]
    idle?: string[]
    write?: Record<string, Record<string, string>>
    outside?: (id: string) => DependencyState
    limit?: number
  } = {}
) {
  const wt = async (task: Task, start: string): Promise<Outcome> => {
    // Each fake agent works in its own worktree, as the engine's do.
    const dir = path.join(await tempDir(`wt-${task.id}`), 'wt')
    await git(s.dir, ['worktree', 'add', '-q', '--detach', dir, start], s.env)
    const saw = (await git(dir, ['ls-files'], s.env)).split('\n')
    if (opts.fail?.includes(task.id)) return { id: task.id, says: 'failed', saw }
    // The engine judges work that changes nothing as no result (judge.ts).
    if (opts.idle?.includes(task.id)) return { id: task.id, says: 'had no changes', saw }
    {
      for (const [name, text] of Object.entries(
        opts.write?.[task.id] ?? { [`${task.id}.txt`]: `${task.id}\n` }
      ))
        await writeFile(path.join(dir, name), text)
      await git(dir, ['add', '-A'], s.env)
      await git(dir, ['commit', '-q', '-m', task.id], s.env)
    }
    return { id: task.id, tip: await git(dir, ['rev-parse', 'HEAD'], s.env), saw }
  }
  return runWithDependencies<Outcome>({
    git: s.git,
    baseSha: s.baseSha,
    tasks: s.tasks,
    toRun: s.tasks.filter((t) => !t.checked),
    limit: opts.limit ?? 4,
    outside: opts.outside ?? (() => ({ ok: true })),
    run: wt,
    read: (o) => (o.says ? { says: o.says } : { tip: o.tip! }),
    skipped: (task, reason) => ({ id: task.id, skipped: reason })
  })
}

const byId = (outcomes: Outcome[]) => Object.fromEntries(outcomes.map((o) => [o.id, o]))

describe('runWithDependencies', () => {
  it("a chain: T3's agent sees the files of T1 and T2, T2's those of T1, and independent T4 starts at the base", async () => {
    const s = await setup([
      '- [ ] T1: one',
      '- [ ] T2: two (after T1)',
      '- [ ] T3: three (after T2)',
      '- [ ] T4: four'
    ])
    const { outcomes, starts } = await run(s)
    const o = byId(outcomes)
    expect(o.T1.saw).toEqual(['base.txt'])
    expect(o.T2.saw).toEqual(['T1.txt', 'base.txt'])
    expect(o.T3.saw).toEqual(['T1.txt', 'T2.txt', 'base.txt'])
    expect(o.T4.saw).toEqual(['base.txt'])
    expect(starts.get('T4')).toBe(s.baseSha)
    // T3's branch holds T1's and T2's work: merged after them it adds only its own file.
    await git(s.dir, ['merge-base', '--is-ancestor', o.T1.tip!, o.T3.tip!], s.env)
  })

  it("a diamond: T4 starts from the merge of T2 and T3, which both hold T1's work", async () => {
    const s = await setup([
      '- [ ] T1: one',
      '- [ ] T2: two (after T1)',
      '- [ ] T3: three (after T1)',
      '- [ ] T4: four (after T2, T3)'
    ])
    const o = byId((await run(s)).outcomes)
    expect(o.T4.saw).toEqual(['T1.txt', 'T2.txt', 'T3.txt', 'base.txt'])
  })

  it('skips the chain behind a failed task and a task without changes, naming the chain', async () => {
    const s = await setup([
      '- [ ] T1: one',
      '- [ ] T2: two (after T1)',
      '- [ ] T3: three (after T2)',
      '- [ ] T4: four',
      '- [ ] T5: five (after T4)',
      '- [ ] T6: six'
    ])
    const o = byId((await run(s, { fail: ['T1'], idle: ['T4'] })).outcomes)
    expect(o.T2).toEqual({ id: 'T2', skipped: 'T1 failed' })
    expect(o.T3).toEqual({ id: 'T3', skipped: 'T2 skipped (T1 failed)' })
    expect(o.T5).toEqual({ id: 'T5', skipped: 'T4 had no changes' })
    expect(o.T6.tip).toBeDefined()
  })

  it('skips a task whose dependencies conflict with each other, saying where', async () => {
    const s = await setup(['- [ ] T1: one', '- [ ] T2: two', '- [ ] T3: three (after T1, T2)'])
    const o = byId(
      (
        await run(s, {
          write: { T1: { 'base.txt': 'one\n' }, T2: { 'base.txt': 'two\n' } }
        })
      ).outcomes
    )
    expect(o.T3).toEqual({
      id: 'T3',
      skipped:
        'the work of T2 conflicts with T1 in base.txt, so T3 has no start that holds all of its dependencies'
    })
  })

  it('builds on work of an earlier run (reused) and on checked tasks, and skips behind a dropped one', async () => {
    const s = await setup([
      '- [x] T1: done',
      '- [ ] T2: reused',
      '- [ ] T3: dropped',
      '- [ ] T4: four (after T1, T2)',
      '- [ ] T5: five (after T3)'
    ])
    // T2's earlier work, on a side commit.
    await git(s.dir, ['checkout', '-q', '-b', 'earlier'], s.env)
    await writeFile(path.join(s.dir, 'earlier.txt'), 'x\n')
    await git(s.dir, ['add', '-A'], s.env)
    await git(s.dir, ['commit', '-q', '-m', 'earlier T2'], s.env)
    const earlier = await git(s.dir, ['rev-parse', 'HEAD'], s.env)
    await git(s.dir, ['checkout', '-q', 'main'], s.env)
    const outside = (id: string): DependencyState =>
      id === 'T1'
        ? { ok: true }
        : id === 'T2'
          ? { ok: true, tip: earlier }
          : { ok: false, says: 'was dropped' }
    const result = await runWithDependencies<Outcome>({
      git: s.git,
      baseSha: s.baseSha,
      tasks: s.tasks,
      toRun: s.tasks.filter((t) => ['T4', 'T5'].includes(t.id)),
      limit: 2,
      outside,
      run: async (task, start) => ({
        id: task.id,
        saw: (await git(s.dir, ['ls-tree', '--name-only', start], s.env)).split('\n')
      }),
      read: () => ({ says: 'failed' }),
      skipped: (task, reason) => ({ id: task.id, skipped: reason })
    })
    const o = byId(result.outcomes)
    expect(o.T4.saw).toEqual(['base.txt', 'earlier.txt'])
    expect(o.T5).toEqual({ id: 'T5', skipped: 'T3 was dropped' })
  })
})
