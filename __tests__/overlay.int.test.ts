// Overlay worktrees (worktree-mode: overlay): real overlayfs mounts over one shared, read-only
// checkout of the base, real git in them. Everything a checkout allows must work, git must see
// a clean tree without re-reading it, and no mount may outlive its worktree or a killed run.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile
} from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { collectWork, taskCollectOptions, type RunContext } from '../src/core/git/collect.js'
import { Git } from '../src/core/git/git.js'
import { mountAbility, Mounter, mountsUnder } from '../src/core/git/overlay.js'
import { OverlayLayers, releaseOverlays } from '../src/core/git/overlay-layers.js'
import { WorktreeManager, worktreeEnv, type Worktree } from '../src/core/git/worktrees.js'
import { memoryLogger } from '../src/core/logger.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

const run = promisify(execFile)
// Probed before the tests are named, so a skip says why in its name.
const ability = await mountAbility(await tempDir('overlay-probe'))
const mounter: Mounter | undefined = ability.via ? new Mounter(ability.via) : undefined
const unavailable = ability.via ? '' : ability.reason
const roots: string[] = []
afterAll(async () => {
  // A failed assertion must not leave mounts behind (nor let rm -rf write through one).
  for (const root of roots) await releaseOverlays(root).catch(() => undefined)
  await removeTempDirs()
})

interface Fixture {
  workspace: string
  env: NodeJS.ProcessEnv
  g: Git
  sha: string
  root: string
  manager: WorktreeManager
}

/** A workspace whose base has folders, a symlink and an executable, and an overlay manager. */
async function fixture(): Promise<Fixture> {
  const files: Record<string, string> = { 'README.md': 'readme\n' }
  for (let i = 0; i < 60; i++) files[`src/part${i % 3}/file${i}.txt`] = `content ${i}\n`
  const origin = await createOrigin(files)
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  const env = isolatedGitEnv(origin.home)
  await symlink('src/part0/file0.txt', path.join(workspace, 'link'))
  await writeFile(path.join(workspace, 'run.sh'), '#!/bin/sh\necho hi\n')
  await chmod(path.join(workspace, 'run.sh'), 0o755)
  await git(workspace, ['add', '-A'], env)
  await git(workspace, ['commit', '-q', '-m', 'symlink and script'], env)
  const g = new Git(workspace, { env })
  const sha = await g.out(['rev-parse', 'HEAD'])
  const root = path.join(await tempDir('overlay-run'), 'worktrees')
  roots.push(root)
  const manager = new WorktreeManager(g, root, memoryLogger(), 'auto', mounter)
  await manager.recover()
  await manager.prepareBase(sha)
  await manager.sealBase()
  return { workspace, env, g, sha, root, manager }
}

/** The tree of a commit as `mode path` lines (and the symlink targets as blobs). */
async function treeOf(f: Fixture, rev: string): Promise<string[]> {
  const out = await git(
    f.workspace,
    ['ls-tree', '-r', '--format=%(objectmode) %(path)', rev],
    f.env
  )
  return out.split('\n').filter(Boolean)
}

function inWorktree(f: Fixture, wt: Worktree, args: string[]): Promise<string> {
  return git(wt.path, args, { ...f.env, ...worktreeEnv(wt) })
}

const skipReason = (): string => (unavailable ? ` (skipped: ${unavailable})` : '')

describe('overlay worktrees', () => {
  it(`show the base with a valid index, take no disk, and commit like a checkout${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    try {
      const wt = await f.manager.create('T1', 'fan/T1', f.sha)
      // git sees a clean tree from the stat data alone: diff-files never re-reads a file, so an
      // entry whose stat data did not match what the overlay shows would be listed here.
      expect(await inWorktree(f, wt, ['diff-files', '--name-only'])).toBe('')
      expect(await inWorktree(f, wt, ['status', '--porcelain'])).toBe('')
      expect(await inWorktree(f, wt, ['rev-parse', '--abbrev-ref', 'HEAD'])).toBe('fan/T1')
      expect(await readlink(path.join(wt.path, 'link'))).toBe('src/part0/file0.txt')
      // Nothing of the base was copied: the task's layer holds only the .git file.
      const upper = path.join(OverlayLayers.dirFor(f.root), 'layers', 'T1', 'upper')
      expect(await readdir(upper)).toEqual(['.git'])

      // Everything a checkout allows: a directory of the base renamed (needs redirect_dir),
      // a base file deleted, a symlink added, an exec bit dropped, a file changed.
      await rename(path.join(wt.path, 'src', 'part1'), path.join(wt.path, 'src', 'moved'))
      await rm(path.join(wt.path, 'README.md'))
      await symlink('run.sh', path.join(wt.path, 'run-link'))
      await chmod(path.join(wt.path, 'run.sh'), 0o644)
      await writeFile(path.join(wt.path, 'src', 'part2', 'file2.txt'), 'changed\n')
      // git stash and back, as an agent might.
      await inWorktree(f, wt, ['stash', '--include-untracked', '--quiet'])
      expect(await inWorktree(f, wt, ['status', '--porcelain'])).toBe('')
      expect(await readFile(path.join(wt.path, 'README.md'), 'utf8')).toBe('readme\n')
      await inWorktree(f, wt, ['stash', 'pop', '--quiet'])
      await inWorktree(f, wt, ['add', '--all'])
      await inWorktree(f, wt, ['commit', '--quiet', '-m', 'task work'])
      expect(await inWorktree(f, wt, ['status', '--porcelain'])).toBe('')

      const tree = await treeOf(f, 'fan/T1')
      expect(tree).not.toContain('100644 README.md')
      expect(tree).toContain('100644 run.sh')
      expect(tree).toContain('120000 run-link')
      expect(tree).toContain('120000 link')
      expect(tree.filter((l) => l.includes('src/moved/'))).toHaveLength(20)
      expect(tree.filter((l) => l.includes('src/part1/'))).toHaveLength(0)
      expect(await git(f.workspace, ['show', 'fan/T1:src/part2/file2.txt'], f.env)).toBe('changed')
      // The shared base is untouched by all of it.
      expect(await f.manager.baseChanges()).toEqual([])
      expect(
        (await lstat(path.join(OverlayLayers.dirFor(f.root), 'base', 'README.md'))).isFile()
      ).toBe(true)
      expect(await f.manager.diskUsed(wt)).toBeGreaterThan(0)

      await f.manager.remove(wt.path)
      expect(await mountsUnder(f.root)).toEqual([])
    } finally {
      await f.manager.removeAll()
    }
    expect(await mountsUnder(path.dirname(f.root))).toEqual([])
  })

  it(`keep the shared base read-only to agents and notice a change made to it another way${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    try {
      const wt = await f.manager.create('T1', 'fan/T1', f.sha)
      const base = path.join(OverlayLayers.dirFor(f.root), 'base')
      await expect(writeFile(path.join(base, 'README.md'), 'agent\n')).rejects.toThrow(/EROFS/)
      await expect(writeFile(path.join(base, 'new.txt'), 'agent\n')).rejects.toThrow(/EROFS/)
      expect(await f.manager.baseChanges()).toEqual([])
      // Root can still remount it writable: the change is found.
      await run('mount', ['-o', 'remount,bind,rw', base])
      await writeFile(path.join(base, 'src', 'part0', 'file0.txt'), 'tampered\n')
      expect(await f.manager.baseChanges()).toContain('src/part0/file0.txt')
      await f.manager.remove(wt.path)
    } finally {
      await f.manager.removeAll()
    }
    expect(await mountsUnder(path.dirname(f.root))).toEqual([])
  })

  it(`give 16 concurrent worktrees their own changes and unmount each on removal${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    try {
      const wts = await Promise.all(
        Array.from({ length: 16 }, (_, i) => f.manager.create(`T${i}`, `fan/T${i}`, f.sha))
      )
      expect(await mountsUnder(f.root)).toHaveLength(16)
      await Promise.all(
        wts.map(async (wt, i) => {
          await writeFile(path.join(wt.path, `only-${i}.txt`), `${i}\n`)
          await inWorktree(f, wt, ['add', '--all'])
          await inWorktree(f, wt, ['commit', '--quiet', '-m', `T${i}`])
        })
      )
      for (let i = 0; i < 16; i++) {
        const tree = await treeOf(f, `fan/T${i}`)
        expect(tree.filter((l) => l.includes('only-'))).toEqual([`100644 only-${i}.txt`])
      }
      await Promise.all(wts.map((wt) => f.manager.remove(wt.path)))
      expect(await mountsUnder(f.root)).toEqual([])
      expect(await git(f.workspace, ['worktree', 'list', '--porcelain'], f.env)).not.toContain(
        f.root
      )
    } finally {
      await f.manager.removeAll()
    }
  })

  it(`are unmounted by a later run or the post step when the run that made them is gone${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    await Promise.all(['T1', 'T2', 'T3'].map((id) => f.manager.create(id, `fan/${id}`, f.sha)))
    const overlayDir = OverlayLayers.dirFor(f.root)
    // The record says how and where the mounts were made (what a post step reads).
    const record = JSON.parse(await readFile(path.join(overlayDir, 'mounts.json'), 'utf8')) as {
      via: string
      mounts: string[]
    }
    expect(record.via).toBe(mounter.via)
    expect(record.mounts).toEqual(
      expect.arrayContaining([path.join(overlayDir, 'base'), path.join(f.root, 'T1')])
    )
    expect(await mountsUnder(path.dirname(f.root))).toHaveLength(4)
    // A manager with no memory of them, as the post step builds it after a killed main step.
    const post = new WorktreeManager(f.g, f.root, memoryLogger())
    await post.removeAll()
    expect(await mountsUnder(path.dirname(f.root))).toEqual([])
    await expect(lstat(overlayDir)).rejects.toThrow(/ENOENT/)
    expect(await git(f.workspace, ['worktree', 'list', '--porcelain'], f.env)).not.toContain(f.root)

    // And the next run's recovery, after another run left its mounts.
    const f2 = await fixture()
    await f2.manager.create('T1', 'fan/T1', f2.sha)
    const next = new WorktreeManager(f2.g, f2.root, memoryLogger(), 'auto', mounter)
    await next.recover()
    expect(await mountsUnder(path.dirname(f2.root))).toEqual([])
    await next.removeAll()
  })

  it(`commit through collect exactly what git add --all would, looking only where the task changed things${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    try {
      const context: RunContext = {
        issueNumber: 1,
        baseBranch: 'main',
        branchPrefix: 'fan',
        checkedOut: new Map(),
        keepDir: path.join(path.dirname(f.root), 'kept'),
        excludes: [],
        scope: (wt) => f.manager.changedScope(wt)
      }
      const wt = await f.manager.create('T1', 'fan/T1', f.sha)
      // Nothing changed: nothing to look at.
      expect(await f.manager.changedScope(wt)).toEqual([])
      await rename(path.join(wt.path, 'src', 'part1'), path.join(wt.path, 'src', 'moved'))
      await writeFile(path.join(wt.path, 'new.txt'), 'new\n')
      await rm(path.join(wt.path, 'run.sh'))
      // An untracked file made and deleted again leaves nothing; an agent's own `git rm
      // --cached` of a file it left in place is undone by `git add --all`, as in a checkout.
      await writeFile(path.join(wt.path, 'scratch.txt'), 'x\n')
      await rm(path.join(wt.path, 'scratch.txt'))
      await inWorktree(f, wt, ['rm', '--cached', '--quiet', 'README.md'])
      expect((await f.manager.changedScope(wt))?.sort()).toEqual([
        'README.md',
        'new.txt',
        'run.sh',
        'src'
      ])
      const done = await collectWork(
        f.g,
        wt,
        taskCollectOptions(context, { id: 'T1', title: 'T1' }, 'fan/T1', f.sha)
      )
      expect('tip' in done).toBe(true)
      const changed = await git(
        f.workspace,
        ['diff', '--name-status', '--no-renames', f.sha, 'fan/T1'],
        f.env
      )
      const lines = changed.split('\n')
      expect(lines).toContain('A\tnew.txt')
      expect(lines).toContain('D\trun.sh')
      expect(lines.filter((l) => l.startsWith('A\tsrc/moved/'))).toHaveLength(20)
      expect(lines.filter((l) => l.startsWith('D\tsrc/part1/'))).toHaveLength(20)
      expect(lines).toHaveLength(42)
      expect(await inWorktree(f, wt, ['status', '--porcelain'])).toBe('')
    } finally {
      await f.manager.removeAll()
    }
  })

  it(`give a worktree at another commit the files of that commit${skipReason()}`, async () => {
    if (!mounter) return
    const f = await fixture()
    try {
      const base = await f.manager.create('T1', 'fan/T1', f.sha)
      await writeFile(path.join(base.path, 'README.md'), 'next\n')
      await mkdir(path.join(base.path, 'added'))
      await writeFile(path.join(base.path, 'added', 'x.txt'), 'x\n')
      await inWorktree(f, base, ['add', '--all'])
      await inWorktree(f, base, ['commit', '--quiet', '-m', 'next'])
      const next = await f.g.out(['rev-parse', 'fan/T1'])
      const later = await f.manager.create('integration', undefined, next)
      expect(await readFile(path.join(later.path, 'README.md'), 'utf8')).toBe('next\n')
      expect(await readFile(path.join(later.path, 'added', 'x.txt'), 'utf8')).toBe('x\n')
      expect(await inWorktree(f, later, ['status', '--porcelain'])).toBe('')
      expect(await inWorktree(f, later, ['rev-parse', 'HEAD'])).toBe(next)
    } finally {
      await f.manager.removeAll()
    }
  })
})
