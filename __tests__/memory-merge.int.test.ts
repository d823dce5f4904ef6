// The in-memory merge path of integrate() against git itself: with fixed dates, every merge
// commit must be byte-for-byte the one `git merge-tree --write-tree` + `git commit-tree` make,
// and git must only be asked for the merges the in-memory path cannot prove trivial.
import { afterAll, describe, expect, it } from '@jest/globals'
import path from 'node:path'
import { Git, type GitRunOptions } from '../src/core/git/git.js'
import { integrate, type IntegrationHooks, type IntegrationTask } from '../src/core/integrate.js'
import { memoryLogger } from '../src/core/logger.js'
import { git, isolatedGitEnv, removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

/** Counts the merges git was asked to compute. */
class CountingGit extends Git {
  mergeTrees = 0
  async run(args: string[], options: GitRunOptions = {}) {
    if (args[0] === 'merge-tree') this.mergeTrees++
    return super.run(args, options)
  }
}

type Change = string | null | { mode: '100755' | '120000'; content: string }

async function setup() {
  const dir = await tempDir('memory-merge')
  const home = await tempDir('memory-merge-home')
  const env = {
    ...isolatedGitEnv(home),
    GIT_AUTHOR_DATE: '1700000000 +0200',
    GIT_COMMITTER_DATE: '1700000000 +0200'
  }
  await git(dir, ['init', '--quiet', '--initial-branch=main'], env)
  const g = new CountingGit(dir, {
    env,
    identity: { name: 'Merge Bot', email: 'bot@test.invalid' }
  })
  const index = path.join(dir, '.git', 'scratch-index')
  /** A commit on `parent` with `changes` (null deletes), made with plumbing. */
  const commit = async (parent: string | undefined, changes: Record<string, Change>) => {
    const opts = { env: { GIT_INDEX_FILE: index } }
    if (parent) await g.run(['read-tree', parent], opts)
    else await g.run(['read-tree', '--empty'], opts)
    for (const [file, change] of Object.entries(changes)) {
      if (change === null) {
        await g.run(['update-index', '--force-remove', '--', file], opts)
        continue
      }
      const { mode, content } =
        typeof change === 'string' ? { mode: '100644', content: change } : change
      const oid = await g.out(['hash-object', '-w', '--stdin'], { stdin: content })
      await g.run(['update-index', '--add', '--cacheinfo', `${mode},${oid},${file}`], opts)
    }
    const tree = await g.out(['write-tree'], opts)
    return g.out(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', 'work'])
  }
  const lines = (n: number, tag = '') =>
    Array.from({ length: n }, (_, i) => `line ${i}${tag}`).join('\n') + '\n'
  const root = await commit(undefined, { 'old.txt': 'old\n' })
  const base = await commit(root, {
    'a/x.txt': lines(20),
    'a/b/y.txt': lines(5),
    'b.txt': 'b\n',
    'run.sh': 'echo hi\n',
    'docs/guide.md': lines(30),
    'docs/api.md': lines(30, ' api')
  })
  return { g, env, dir, base, root, commit, lines }
}

const message = (t: IntegrationTask) =>
  `Merge task ${t.id}: ${t.title}\n\nAgent-Fanout-Task: ${t.id}\nAgent-Fanout-Issue: 7\n`

/** What integrate() must produce: git merge-tree + commit-tree, one task after another. */
async function reference(g: Git, base: string, tasks: IntegrationTask[]) {
  let current = base
  const statuses: string[] = []
  for (const t of tasks) {
    const merged = await g.run(['merge-tree', '--write-tree', current, t.tip], { okExitCodes: [1] })
    if (merged.exitCode === 1) {
      statuses.push('conflicted')
      continue
    }
    const tree = merged.stdout.split('\n')[0]
    current = await g.out(['commit-tree', tree, '-p', current, '-p', t.tip, '-F', '-'], {
      stdin: message(t)
    })
    statuses.push('merged')
  }
  return { sha: current, statuses }
}

async function run(
  g: CountingGit,
  base: string,
  tasks: IntegrationTask[],
  hooks: Partial<IntegrationHooks> = {}
) {
  g.mergeTrees = 0
  const result = await integrate(g, {
    baseSha: base,
    integrationBranch: 'fanout/issue-7/integration',
    issueNumber: 7,
    tasks,
    hooks: { strategies: ['report'], maxReruns: 0, logger: memoryLogger(), ...hooks }
  })
  return { sha: result.sha, statuses: result.outcomes.map((o) => o.status), asked: g.mergeTrees }
}

const task = (id: string, tip: string): IntegrationTask => ({
  id,
  title: `task ${id}`,
  branch: `fanout/issue-7/${id}`,
  tip,
  changedFiles: []
})

describe('integrate() merging in memory', () => {
  it('makes the same merge commits as git for additions and edits, asking git only for the rest', async () => {
    const { g, base, commit, lines } = await setup()
    const t5a = await commit(base, { 'b.txt': 'b\nfirst\n' })
    const tasks = [
      task(
        't1',
        await commit(base, { 'a/x.txt': lines(20).replace('line 1\n', 'line 1 edited\n') })
      ),
      task('t2', await commit(base, { 'new/deep/er/file.txt': 'new\n', 'new/top.txt': 'top\n' })),
      task('t3', await commit(base, { 'run.sh': { mode: '100755', content: 'echo hi\n' } })),
      task('t4', await commit(base, { 'link-to-b': { mode: '120000', content: 'b.txt' } })),
      // Two commits of its own.
      task('t5', await commit(t5a, { 'b.txt': 'b\nfirst\nsecond\n', 'a/b/z.txt': 'z\n' })),
      // Same line as t1: a conflict, reported; the in-memory path goes on after it.
      task(
        't6',
        await commit(base, { 'a/x.txt': lines(20).replace('line 1\n', 'line 1 other\n') })
      ),
      task('t7', await commit(base, { 'docs/new.md': 'new doc\n', 'a/b/w.txt': 'w\n' })),
      // A file where t2 made a directory: git's business (and a conflict).
      task('t8', await commit(base, { new: 'a file\n' }))
    ]
    const expected = await reference(g, base, tasks)
    const got = await run(g, base, tasks)
    expect(got.statuses).toEqual(expected.statuses)
    expect(expected.statuses).toEqual([
      'merged',
      'merged',
      'merged',
      'merged',
      'merged',
      'conflicted',
      'merged',
      'conflicted'
    ])
    expect(got.sha).toBe(expected.sha)
    // Only t6 and t8 needed git.
    expect(got.asked).toBe(2)
    // The objects are really there and sound.
    await git(g.repoDir, ['fsck', '--no-dangling', '--connectivity-only', got.sha])
    await git(g.repoDir, ['ls-tree', '-r', got.sha])
  })

  it('hands deletions, renames, clean content merges and tips off the base to git, with the same result', async () => {
    const { g, base, root, commit, lines } = await setup()
    const tasks = [
      task('t1', await commit(base, { 'b.txt': 'b\nmore\n' })),
      // A rename (delete + add): from here on git merges everything.
      task('t2', await commit(base, { 'docs/guide.md': null, 'docs/handbook.md': lines(30) })),
      task('t3', await commit(base, { 'docs/extra.md': 'extra\n' })),
      task('t4', await commit(base, { 'a/x.txt': lines(20).replace('line 19', 'line 19 end') }))
    ]
    const expected = await reference(g, base, tasks)
    const got = await run(g, base, tasks)
    expect(got.statuses).toEqual(expected.statuses)
    expect(got.sha).toBe(expected.sha)
    expect(got.asked).toBe(3)

    // A clean content merge (both sides edit one file) and a tip that does not start at the base.
    const more = [
      task('u1', await commit(base, { 'a/x.txt': lines(20).replace('line 0\n', 'line 0 top\n') })),
      task('u2', await commit(base, { 'a/x.txt': lines(20).replace('line 19', 'line 19 end') })),
      task('u3', await commit(root, { 'old.txt': 'old\nchanged\n' }))
    ]
    const expected2 = await reference(g, base, more)
    const got2 = await run(g, base, more)
    expect(got2.statuses).toEqual(expected2.statuses)
    expect(got2.sha).toBe(expected2.sha)
    expect(got2.asked).toBe(2)
  })

  it('keeps a merge that the verify hook rejects out of its state', async () => {
    const { g, base, commit } = await setup()
    const tasks = [
      task('t1', await commit(base, { 'one.txt': '1\n' })),
      task('t2', await commit(base, { 'two.txt': '2\n' })),
      task('t3', await commit(base, { 'three.txt': '3\n' }))
    ]
    const result = await run(g, base, tasks, {
      verify: async (_commit, t) => ({ ok: t.id !== 't2', tail: '' })
    })
    expect(result.asked).toBe(0)
    const expected = await reference(g, base, [tasks[0], tasks[2]])
    expect(result.statuses).toEqual(['merged', 'broke-verify', 'merged'])
    expect(result.sha).toBe(expected.sha)
    expect(await g.out(['ls-tree', '--name-only', result.sha])).not.toContain('two.txt')
  })
})
