// The start of a task that depends on others, built with real git: it must hold exactly what
// `git merge --no-ff` of its dependencies' branches onto the base, in order, gives.

import { afterAll, describe, expect, it } from '@jest/globals'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Git } from '../src/core/git/git.js'
import { integrate, type IntegrationTask } from '../src/core/integrate.js'
import { memoryLogger } from '../src/core/logger.js'
import { buildStartCommit } from '../src/core/run/start-commit.js'
import { git, isolatedGitEnv, removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

interface Repo {
  dir: string
  env: NodeJS.ProcessEnv
  git: Git
  base: string
}

async function repo(): Promise<Repo> {
  const dir = await tempDir('start-commit')
  const env = isolatedGitEnv(await tempDir('start-home'))
  await git(dir, ['init', '-q', '--initial-branch=main'], env)
  await writeFile(path.join(dir, 'notes.txt'), 'one\ntwo\nthree\n')
  await git(dir, ['add', '-A'], env)
  await git(dir, ['commit', '-q', '-m', 'base'], env)
  const base = await git(dir, ['rev-parse', 'HEAD'], env)
  return { dir, env, git: new Git(dir, { env }), base }
}

/** A commit on `from` writing `files`, as an agent's branch would hold it. */
async function work(r: Repo, from: string, files: Record<string, string>): Promise<string> {
  await git(r.dir, ['checkout', '-q', '--detach', from], r.env)
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(r.dir, name), text)
  await git(r.dir, ['add', '-A'], r.env)
  await git(r.dir, ['commit', '-q', '-m', `work ${Object.keys(files).join(' ')}`], r.env)
  return git(r.dir, ['rev-parse', 'HEAD'], r.env)
}

/** The tree `git merge --no-ff` of each tip onto the base, in order, gives. */
async function gitMergeTree(r: Repo, tips: string[]): Promise<string> {
  await git(r.dir, ['checkout', '-q', '--detach', r.base], r.env)
  for (const tip of tips) await git(r.dir, ['merge', '-q', '--no-ff', '-m', 'm', tip], r.env)
  return git(r.dir, ['rev-parse', 'HEAD^{tree}'], r.env)
}

const tree = (r: Repo, commit: string): Promise<string> =>
  git(r.dir, ['rev-parse', `${commit}^{tree}`], r.env)
const files = (r: Repo, commit: string): Promise<string> =>
  git(r.dir, ['ls-tree', '--name-only', commit], r.env)

describe('buildStartCommit', () => {
  it('is the base for a task without dependencies', async () => {
    const r = await repo()
    expect(
      await buildStartCommit(r.git, { baseSha: r.base, taskId: 'T1', dependencies: [] })
    ).toEqual({ sha: r.base })
  })

  it("merges each dependency onto the base as git merge --no-ff does, so the start holds every dependency's files", async () => {
    const r = await repo()
    const t1 = await work(r, r.base, { 'a.txt': 'a\n', 'notes.txt': 'ONE\ntwo\nthree\n' })
    const t2 = await work(r, r.base, { 'b.txt': 'b\n', 'notes.txt': 'one\ntwo\nTHREE\n' })
    const start = await buildStartCommit(r.git, {
      baseSha: r.base,
      taskId: 'T3',
      dependencies: [
        { id: 'T1', title: 'one', tip: t1 },
        { id: 'T2', title: 'two', tip: t2 }
      ]
    })
    if (!('sha' in start)) throw new Error(start.reason)
    expect(await files(r, start.sha)).toBe('a.txt\nb.txt\nnotes.txt')
    expect(await tree(r, start.sha)).toBe(await gitMergeTree(r, [t1, t2]))
    // One merge commit per dependency, the way integration records them; both tips are held.
    expect(
      await git(r.dir, ['rev-list', '--merges', '--count', `${r.base}..${start.sha}`], r.env)
    ).toBe('2')
    for (const tip of [t1, t2])
      await git(r.dir, ['merge-base', '--is-ancestor', tip, start.sha], r.env)
    expect(await git(r.dir, ['log', '-1', '--format=%s', start.sha], r.env)).toBe(
      'Merge task T2 into the start of task T3: two'
    )
  })

  it('merges a chain once: a dependency that an earlier one already holds adds no commit', async () => {
    const r = await repo()
    const t1 = await work(r, r.base, { 'a.txt': 'a\n' })
    const t2 = await work(r, t1, { 'b.txt': 'b\n' })
    const start = await buildStartCommit(r.git, {
      baseSha: r.base,
      taskId: 'T3',
      dependencies: [
        { id: 'T2', title: 'two', tip: t2 },
        { id: 'T1', title: 'one', tip: t1 }
      ]
    })
    if (!('sha' in start)) throw new Error(start.reason)
    expect(
      await git(r.dir, ['rev-list', '--merges', '--count', `${r.base}..${start.sha}`], r.env)
    ).toBe('1')
    expect(await tree(r, start.sha)).toBe(await tree(r, t2))
  })

  it('says which dependencies conflict, and where, when they do not merge cleanly', async () => {
    const r = await repo()
    const t1 = await work(r, r.base, { 'notes.txt': 'one\nTWO by T1\nthree\n' })
    const t2 = await work(r, r.base, { 'notes.txt': 'one\ntwo by T2\nthree\n' })
    const start = await buildStartCommit(r.git, {
      baseSha: r.base,
      taskId: 'T3',
      dependencies: [
        { id: 'T1', title: 'one', tip: t1 },
        { id: 'T2', title: 'two', tip: t2 }
      ]
    })
    expect(start).toEqual({
      conflict: { files: ['notes.txt'], messages: [expect.stringContaining('notes.txt')] },
      reason:
        'the work of T2 conflicts with T1 in notes.txt, so T3 has no start that holds all of its dependencies'
    })
  })
})

describe('integrate() with dependencies', () => {
  const task = (id: string, tip: string, dependsOn?: string[]): IntegrationTask => ({
    id,
    title: `task ${id}`,
    branch: `fanout/issue-7/${id}`,
    tip,
    changedFiles: [],
    ...(dependsOn ? { dependsOn } : {})
  })

  it('leaves out the dependents of a task that conflicted, since their branches hold its work', async () => {
    const r = await repo()
    const t0 = await work(r, r.base, { 'notes.txt': 'one\ntwo by T0\nthree\n' })
    const t1 = await work(r, r.base, { 'notes.txt': 'one\ntwo by T1\nthree\n' })
    const start = await buildStartCommit(r.git, {
      baseSha: r.base,
      taskId: 'T2',
      dependencies: [{ id: 'T1', title: 'one', tip: t1 }]
    })
    if (!('sha' in start)) throw new Error(start.reason)
    const t2 = await work(r, start.sha, { 'b.txt': 'b\n' })
    const t3 = await work(r, t2, { 'c.txt': 'c\n' })
    const t4 = await work(r, r.base, { 'd.txt': 'd\n' })
    const result = await integrate(r.git, {
      baseSha: r.base,
      integrationBranch: 'fanout/issue-7/integration',
      issueNumber: 7,
      tasks: [
        task('T0', t0),
        task('T1', t1),
        task('T2', t2, ['T1']),
        task('T3', t3, ['T2']),
        task('T4', t4)
      ],
      hooks: { strategies: ['report'], maxReruns: 0, logger: memoryLogger() }
    })
    expect(result.outcomes.map((o) => [o.id, o.status, o.reason])).toEqual([
      ['T0', 'merged', undefined],
      ['T1', 'conflicted', undefined],
      ['T2', 'skipped', 'T1 conflicted'],
      ['T3', 'skipped', 'T2 skipped (T1 conflicted)'],
      ['T4', 'merged', undefined]
    ])
    // Nothing of T1 reached the integration branch through its dependents.
    expect(await files(r, result.sha)).toBe('d.txt\nnotes.txt')
    expect(await tree(r, result.sha)).toBe(await gitMergeTree(r, [t0, t4]))
  })

  it('merges a chain whose tasks started from their dependencies into what git merge --no-ff gives', async () => {
    const r = await repo()
    const t1 = await work(r, r.base, { 'a.txt': 'a\n' })
    const s2 = await buildStartCommit(r.git, {
      baseSha: r.base,
      taskId: 'T2',
      dependencies: [{ id: 'T1', title: 'one', tip: t1 }]
    })
    if (!('sha' in s2)) throw new Error(s2.reason)
    const t2 = await work(r, s2.sha, { 'a.txt': 'a\nand b\n' })
    const result = await integrate(r.git, {
      baseSha: r.base,
      integrationBranch: 'fanout/issue-7/integration',
      issueNumber: 7,
      tasks: [task('T1', t1), task('T2', t2, ['T1'])],
      hooks: { strategies: ['report'], maxReruns: 0, logger: memoryLogger() }
    })
    expect(result.outcomes.map((o) => o.status)).toEqual(['merged', 'merged'])
    expect(await tree(r, result.sha)).toBe(await gitMergeTree(r, [t1, t2]))
    expect(await git(r.dir, ['show', `${result.sha}:a.txt`], r.env)).toBe('a\nand b')
  })

  it('leaves out a dependent of a task that went in as a re-run: its branch holds the first attempt', async () => {
    const r = await repo()
    const t0 = await work(r, r.base, { 'notes.txt': 'one\ntwo by T0\nthree\n' })
    const t1 = await work(r, r.base, { 'notes.txt': 'one\ntwo by T1\nthree\n' })
    const t2 = await work(r, t1, { 'b.txt': 'b\n' })
    const result = await integrate(r.git, {
      baseSha: r.base,
      integrationBranch: 'fanout/issue-7/integration',
      issueNumber: 7,
      tasks: [task('T0', t0), task('T1', t1), task('T2', t2, ['T1'])],
      hooks: {
        strategies: ['rerun'],
        maxReruns: 1,
        logger: memoryLogger(),
        // The re-run redoes T1 on the integration branch so far.
        rerun: async (_task, onto) => ({
          tip: await work(r, onto, { 'notes.txt': 'one\ntwo by T0 and T1\nthree\n' }),
          changedFiles: ['notes.txt']
        })
      }
    })
    expect(result.outcomes.map((o) => [o.id, o.status, o.reason])).toEqual([
      ['T0', 'merged', undefined],
      ['T1', 'merged-after-rerun', undefined],
      [
        'T2',
        'skipped',
        'T1 was merged after a re-run, and this task was built on its first attempt (run it again)'
      ]
    ])
  })
})
