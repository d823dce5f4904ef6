// Creating many worktrees at once must never trip over git's lock files, and worktrees the
// engine registers itself must be, to git, the ones `git worktree add` makes.
import { afterAll, describe, expect, it } from '@jest/globals'
import { access, readdir, readFile, writeFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { Git } from '../src/core/git/git.js'
import { WorktreeManager } from '../src/core/git/worktrees.js'
import { memoryLogger } from '../src/core/logger.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

describe.each(['auto', 'git'] as const)('WorktreeManager under parallel use (%s)', (mode) => {
  it('creates 20 worktrees concurrently, five times over, without a single lock failure', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 200; i++) files[`dir${i % 10}/file${i}.txt`] = `content ${i}\n`
    const origin = await createOrigin(files)
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const env = isolatedGitEnv(origin.home)
    const g = new Git(workspace, { env })
    const sha = await g.out(['rev-parse', 'HEAD'])
    const root = path.join(await tempDir('wt-root'), 'worktrees')
    const manager = new WorktreeManager(g, root, memoryLogger(), mode)
    await manager.recover()

    for (let round = 0; round < 5; round++) {
      const ids = Array.from({ length: 20 }, (_, i) => `T${i + 1}`)
      const created = await Promise.all(ids.map((id) => manager.create(id, `stress/${id}`, sha)))
      expect(created).toHaveLength(20)
      const listed = await git(workspace, ['worktree', 'list', '--porcelain'], env)
      expect(listed.match(/^worktree /gm)).toHaveLength(21)
      for (const id of ids) {
        expect(await git(path.join(root, id), ['rev-parse', '--abbrev-ref', 'HEAD'], env)).toBe(
          `stress/${id}`
        )
      }
      // No upstream tracking or other per-worktree config was written.
      expect(
        await git(workspace, ['config', '--get-regexp', '^branch\\.stress/'], env).catch(() => '')
      ).toBe('')
      await Promise.all(created.map((w) => manager.remove(w.path)))
    }
    const listed = await git(workspace, ['worktree', 'list', '--porcelain'], env)
    expect(listed.match(/^worktree /gm)).toHaveLength(1)
  }, 240_000)

  it('still creates every worktree while another process holds .git/config.lock', async () => {
    const origin = await createOrigin({ 'a.txt': 'a\n' })
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const env = isolatedGitEnv(origin.home)
    const g = new Git(workspace, { env })
    const sha = await g.out(['rev-parse', 'HEAD'])
    const manager = new WorktreeManager(
      g,
      path.join(await tempDir('wt-lock'), 'worktrees'),
      memoryLogger(),
      mode
    )
    await manager.recover()
    const lock = path.join(workspace, '.git', 'config.lock')
    await writeFile(lock, '')
    try {
      const created = await Promise.all(
        Array.from({ length: 16 }, (_, i) => manager.create(`T${i}`, `locked/T${i}`, sha))
      )
      expect(created).toHaveLength(16)
    } finally {
      await rm(lock, { force: true })
    }
    const branches = await git(
      workspace,
      ['branch', '--list', 'locked/*', '--format=%(refname:short)'],
      env
    )
    expect(branches.split('\n')).toHaveLength(16)
    await manager.removeAll()
  })
})

describe('worktrees registered without git worktree add', () => {
  async function setup(): Promise<{
    workspace: string
    env: NodeJS.ProcessEnv
    g: Git
    sha: string
    root: string
  }> {
    const origin = await createOrigin({ 'a/one.txt': 'one\n', 'b/two.txt': 'two\n' })
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const env = isolatedGitEnv(origin.home)
    const g = new Git(workspace, { env })
    const sha = await g.out(['rev-parse', 'HEAD'])
    return { workspace, env, g, sha, root: path.join(await tempDir('wt-direct'), 'worktrees') }
  }

  it('look to git exactly like the ones git worktree add makes, and leave nothing behind', async () => {
    const { workspace, env, g, sha, root } = await setup()
    const manager = new WorktreeManager(g, root, memoryLogger())
    await manager.recover()
    const [onBranch, detached] = await Promise.all([
      manager.create('T1', 'direct/T1', sha),
      manager.create('T2', undefined, sha)
    ])
    // git's own, for comparison.
    const reference = path.join(await tempDir('wt-ref'), 'ref')
    await git(workspace, ['worktree', 'add', '--no-checkout', '--detach', reference, sha], env)

    const admin = path.join(workspace, '.git', 'worktrees')
    for (const id of ['T1', 'T2', 'ref']) {
      const files = await readdir(path.join(admin, id))
      expect(files).toEqual(expect.arrayContaining(['HEAD', 'commondir', 'gitdir']))
      expect(files).not.toContain('locked')
      expect(await readFile(path.join(admin, id, 'commondir'), 'utf8')).toBe('../..\n')
    }
    expect(await readFile(path.join(admin, 'T1', 'gitdir'), 'utf8')).toBe(
      `${path.join(onBranch.path, '.git')}\n`
    )
    expect(await readFile(path.join(onBranch.path, '.git'), 'utf8')).toBe(
      `gitdir: ${path.join(admin, 'T1')}\n`
    )

    const listed = await git(workspace, ['worktree', 'list', '--porcelain'], env)
    expect(listed).toContain(
      `worktree ${onBranch.path}\nHEAD ${sha}\nbranch refs/heads/direct/T1\n`
    )
    expect(listed).toContain(`worktree ${detached.path}\nHEAD ${sha}\ndetached\n`)
    // A prune keeps them (they are complete), and git works in them as in its own.
    await git(workspace, ['worktree', 'prune'], env)
    expect(await git(workspace, ['worktree', 'list', '--porcelain'], env)).toBe(listed)
    for (const wt of [onBranch.path, detached.path]) {
      expect(await git(wt, ['status', '--porcelain'], env)).toBe('')
      expect(await readFile(path.join(wt, 'a', 'one.txt'), 'utf8')).toBe('one\n')
    }
    expect(
      await git(workspace, ['branch', '-D', 'direct/T1'], env).catch((e: Error) => e.message)
    ).toMatch(/checked out|used by worktree/)

    await Promise.all([manager.remove(onBranch.path), manager.remove(detached.path)])
    const after = await git(workspace, ['worktree', 'list', '--porcelain'], env)
    expect(after).not.toContain(root)
    expect((await readdir(admin)).sort()).toEqual(['ref'])
    expect(await git(workspace, ['worktree', 'prune', '--dry-run', '--verbose'], env)).toBe('')
    await expect(access(onBranch.path)).rejects.toThrow()
    await manager.removeAll()
    // The scratch space next to .git/worktrees (staged and removed entries) is gone.
    expect((await readdir(path.join(workspace, '.git'))).filter((f) => /fanout/.test(f))).toEqual(
      []
    )
  })

  it('are cleaned up by the next run after a crash, and by a manager that did not make them', async () => {
    const { workspace, env, g, sha, root } = await setup()
    const crashed = new WorktreeManager(g, root, memoryLogger())
    await crashed.recover()
    await crashed.create('T1', 'crash/T1', sha)
    await crashed.create('T2', undefined, sha)
    const next = new WorktreeManager(g, root, memoryLogger())
    await next.recover()
    expect(await git(workspace, ['worktree', 'list', '--porcelain'], env)).not.toContain(root)
    const again = await next.create('T1', 'crash/T1', sha)
    expect(await git(again.path, ['rev-parse', '--abbrev-ref', 'HEAD'], env)).toBe('crash/T1')
    await new WorktreeManager(g, root, memoryLogger()).removeAll()
    expect(await git(workspace, ['worktree', 'list', '--porcelain'], env)).not.toContain(root)
    await expect(access(root)).rejects.toThrow()
  })

  it('leave it to git worktree add where the repository needs more than the plain files (a sparse checkout)', async () => {
    const { workspace, env, g, sha, root } = await setup()
    await git(workspace, ['sparse-checkout', 'set', 'a'], env)
    const logger = memoryLogger()
    const manager = new WorktreeManager(g, root, logger)
    await manager.recover()
    const wt = await manager.create('T1', 'sparse/T1', sha)
    // git copies the sparse-checkout settings into the new worktree: it is sparse too.
    expect(await readFile(path.join(wt.path, 'a', 'one.txt'), 'utf8')).toBe('one\n')
    await expect(access(path.join(wt.path, 'b', 'two.txt'))).rejects.toThrow()
    expect(logger.lines.join('\n')).toMatch(/git worktree add/)
    await manager.removeAll()
    expect(await git(workspace, ['worktree', 'list', '--porcelain'], env)).not.toContain(root)
  })
})
