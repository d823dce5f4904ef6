// Creating many worktrees at once must never trip over git's lock files.
import { afterAll, describe, expect, it } from '@jest/globals'
import { writeFile, rm } from 'node:fs/promises'
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

describe('WorktreeManager under parallel use', () => {
  it('creates 20 worktrees concurrently, five times over, without a single lock failure', async () => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 200; i++) files[`dir${i % 10}/file${i}.txt`] = `content ${i}\n`
    const origin = await createOrigin(files)
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const env = isolatedGitEnv(origin.home)
    const g = new Git(workspace, { env })
    const sha = await g.out(['rev-parse', 'HEAD'])
    const root = path.join(await tempDir('wt-root'), 'worktrees')
    const manager = new WorktreeManager(g, root, memoryLogger())
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
      memoryLogger()
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
