// Issue 16, module level with real git: sparse cones (the `sparse-checkout` input and a task's
// `paths:`), submodules checked out from the workspace's module stores, and Git LFS content in
// worktrees and on the remote. The bundle-level runs are in e2e/repositories.e2e.test.ts.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { collectWork, type CollectOptions } from '../src/core/git/collect.js'
import { Git } from '../src/core/git/git.js'
import { SharedGitGuard } from '../src/core/git/guard.js'
import { prepareLfs, usesLfs } from '../src/core/git/lfs.js'
import { pushBranches, sameOriginAuth } from '../src/core/git/remote.js'
import { RepoFeatures } from '../src/core/git/repo-features.js'
import { conePatterns, narrowSparseDirs, parseSparseDirs } from '../src/core/git/sparse.js'
import {
  KEPT_SUBMODULE_REFS,
  pushKeptSubmoduleCommits,
  SUBMODULE_COMMIT_REFS
} from '../src/core/git/submodules.js'
import { mountAbility, Mounter } from '../src/core/git/overlay.js'
import { releaseOverlays } from '../src/core/git/overlay-layers.js'
import {
  WorktreeManager,
  worktreeEnv,
  type Worktree,
  type WorktreeMode
} from '../src/core/git/worktrees.js'
import { memoryLogger } from '../src/core/logger.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'
import {
  commitToSub,
  isPointer,
  LFS_CONTENT,
  lfsHome,
  lfsMissing,
  lfsOrigin,
  nestedSubmoduleWorld,
  publishNestedMove,
  submoduleWorld,
  writeTree
} from '../test-support/repo-fixtures.js'
import { basicToken, startGitHttpServer } from '../test-support/git-http-server.js'

// Overlay worktrees need mounts (root or passwordless sudo); their tests are skipped, with the
// reason in their names, where this machine cannot mount.
const ability = await mountAbility(await tempDir('overlay-probe'))
const mounter = ability.via ? new Mounter(ability.via) : undefined
const cannotMount = ability.via ? '' : ability.reason
const roots: string[] = []
afterAll(async () => {
  // A failed assertion must not leave mounts behind (nor let rm -rf write through one).
  for (const root of roots) await releaseOverlays(root).catch(() => undefined)
  await removeTempDirs()
})

const IDENTITY = { name: 'Fanout Test', email: 'fanout@test.invalid' }

async function manager(
  workspace: string,
  env: NodeJS.ProcessEnv,
  sparse?: string[],
  mode: WorktreeMode = 'checkout'
) {
  const g = new Git(workspace, { env, identity: IDENTITY })
  const logger = memoryLogger()
  const root = path.join(await tempDir('wt-root'), 'worktrees')
  roots.push(root)
  const worktrees = new WorktreeManager(
    g,
    root,
    logger,
    'auto',
    mode === 'overlay' ? mounter : undefined
  )
  await worktrees.recover()
  const baseSha = await g.out(['rev-parse', 'HEAD'])
  if (mode === 'overlay') {
    await worktrees.prepareBase(baseSha)
    await worktrees.sealBase()
  }
  const features = await RepoFeatures.detect(g, await worktrees.commonDir(), baseSha, logger, {
    sparse
  })
  worktrees.useFeatures(features)
  return { g, logger, worktrees, baseSha }
}

function collectOptions(branch: string, startSha: string, keepDir: string): CollectOptions {
  return {
    branch,
    startSha,
    message: `${branch}: work\n`,
    keepDir,
    saveMessage: () => 'saved\n'
  }
}

const tracked = async (g: Git, ref: string) =>
  (await g.out(['ls-tree', '-r', '--name-only', ref])).split('\n').filter(Boolean).sort()

describe('sparse-checkout', () => {
  it('reads cone directories and refuses what is not one', () => {
    expect(parseSparseDirs('packages/api\n/docs/\n\npackages/api')).toEqual([
      'packages/api',
      'docs'
    ])
    expect(() => parseSparseDirs('src/*.ts')).toThrow(/"src\/\*\.ts" is not a directory/)
    expect(() => parseSparseDirs('../x')).toThrow(/not a directory/)
    expect(conePatterns(['packages/api'])).toBe(
      '/*\n!/*/\n/packages/\n!/packages/*/\n/packages/api/\n'
    )
  })

  it("narrows the run's cone by a task's paths, and names the task whose paths lie outside it", () => {
    expect(narrowSparseDirs(['packages'], ['packages/api'], 'T1')).toEqual(['packages/api'])
    expect(narrowSparseDirs(['packages/a', 'packages/b', 'docs'], ['packages'], 'T1')).toEqual([
      'packages/a',
      'packages/b'
    ])
    expect(narrowSparseDirs(undefined, ['docs'], 'T1')).toEqual(['docs'])
    expect(narrowSparseDirs(['docs'], undefined, 'T1')).toEqual(['docs'])
    expect(() => narrowSparseDirs(['packages/a'], ['tools'], 'T7')).toThrow(
      /Task T7: its paths: line names tools, which is outside the sparse-checkout input/
    )
  })

  it('leaves files outside the cone out of the worktree, and every commit keeps them', async () => {
    const origin = await createOrigin({
      'README.md': 'top\n',
      'packages/api/src/a.ts': 'a\n',
      'packages/api/package.json': '{}\n',
      'packages/api/test/t.ts': 't\n',
      'packages/web/w.ts': 'w\n',
      'packages/top.txt': 't\n',
      'docs/d.md': 'd\n'
    })
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const env = isolatedGitEnv(origin.home)
    const { g, worktrees, baseSha } = await manager(workspace, env, ['packages/api'])

    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    expect(existsSync(path.join(wt.path, 'packages/api/src/a.ts'))).toBe(true)
    expect(existsSync(path.join(wt.path, 'README.md'))).toBe(true)
    expect(existsSync(path.join(wt.path, 'packages/top.txt'))).toBe(true) // a parent's file
    expect(existsSync(path.join(wt.path, 'packages/web/w.ts'))).toBe(false)
    expect(existsSync(path.join(wt.path, 'docs'))).toBe(false)
    // git in the worktree sees nothing missing.
    expect(await g.out(['status', '--porcelain'], { cwd: wt.path, env: worktreeEnv(wt) })).toBe('')

    // A task's paths narrow it further.
    const narrow = await worktrees.create('T2', 'fanout/T2', baseSha, ['packages/api/src'])
    expect(existsSync(path.join(narrow.path, 'packages/api/src/a.ts'))).toBe(true)
    // As in git's cone mode, the files of a directory's parents are there too.
    expect(existsSync(path.join(narrow.path, 'packages/api/package.json'))).toBe(true)
    expect(existsSync(path.join(narrow.path, 'packages/api/test'))).toBe(false)
    expect(existsSync(path.join(wt.path, 'packages/api/test/t.ts'))).toBe(true)

    await writeFile(path.join(wt.path, 'packages/api/src/a.ts'), 'a changed\n')
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    expect('tip' in work).toBe(true)
    const tip = (work as { tip: string }).tip
    expect(await tracked(g, tip)).toEqual(await tracked(g, baseSha))
    expect(await g.out(['show', `${tip}:packages/api/src/a.ts`])).toBe('a changed')
    expect(await g.out(['diff', '--name-only', baseSha, tip])).toBe('packages/api/src/a.ts')
    await worktrees.removeAll()
  })

  it("a commit rebuilt from a worktree's files (fresh index) keeps the files outside the cone", async () => {
    const origin = await createOrigin({
      'README.md': 'top\n',
      'in/a.txt': 'a\n',
      'out/b.txt': 'b\n'
    })
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const { g, worktrees, baseSha } = await manager(workspace, isolatedGitEnv(origin.home), ['in'])
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    await writeFile(path.join(wt.path, 'in/a.txt'), 'a2\n')
    // A damaged index makes `git commit` fail: collect commits again from the files.
    await writeFile(path.join(wt.gitDir, 'index'), 'garbage')
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    expect(work).toMatchObject({ note: expect.stringMatching(/committed again from the files/) })
    const tip = (work as { tip: string }).tip
    expect(await tracked(g, tip)).toEqual(['README.md', 'in/a.txt', 'out/b.txt'])
    expect(await g.out(['show', `${tip}:in/a.txt`])).toBe('a2')
    await worktrees.removeAll()
  })
})

describe('submodules', () => {
  it("checks out the workspace's initialised submodules from its module store, with no network", async () => {
    const w = await submoduleWorld()
    // The submodule's origin is gone: only local objects can fill the worktree.
    await rename(w.sub.bareDir, `${w.sub.bareDir}.gone`)
    const { worktrees, baseSha } = await manager(w.workspace, w.env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    expect(await readFile(path.join(wt.path, 'lib/s.txt'), 'utf8')).toBe('s1\n')
    expect(await git(path.join(wt.path, 'lib'), ['rev-parse', '--show-toplevel'], w.env)).toBe(
      path.join(wt.path, 'lib')
    )
    expect(await git(wt.path, ['status', '--porcelain'], w.env)).toBe('')
    await worktrees.removeAll()
    // The module store forgets the task's worktree with it.
    const store = path.join(w.workspace, '.git/modules/lib')
    expect(
      await git(w.workspace, ['--git-dir', store, 'worktree', 'list', '--porcelain'], w.env)
    ).not.toContain(worktrees.root)
  })

  it('does not merge a submodule commit its remote lacks: the task fails, the commit is kept and the reason says what to push', async () => {
    const w = await submoduleWorld()
    const { g, worktrees, baseSha } = await manager(w.workspace, w.env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    await writeFile(path.join(wt.path, 'lib/s.txt'), 'changed in the task\n')
    await git(path.join(wt.path, 'lib'), ['commit', '-qam', 'task change'], w.env)
    const subCommit = await git(path.join(wt.path, 'lib'), ['rev-parse', 'HEAD'], w.env)
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    expect(work).toMatchObject({ keepBranch: true })
    const error = (work as { error: string }).error
    expect(error).toContain(`changed submodule lib to commit ${subCommit.slice(0, 12)}`)
    expect(error).toContain(w.sub.url)
    expect(error).toContain(`${KEPT_SUBMODULE_REFS}/fanout/T1`)
    await worktrees.removeAll()
    // Kept after the worktree is gone: in the workspace's module store, under the named ref.
    const store = path.join(w.workspace, '.git/modules/lib')
    expect(
      await git(
        w.workspace,
        ['--git-dir', store, 'rev-parse', `${KEPT_SUBMODULE_REFS}/fanout/T1`],
        w.env
      )
    ).toBe(subCommit)
    // The task branch holds the gitlink, for the person who pushes the submodule commit.
    expect(await g.out(['rev-parse', 'fanout/T1:lib'])).toBe(subCommit)
    // And the superproject keeps the commit too, pushed to its origin (the runner goes away).
    expect(error).toContain(`${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`)
    const pushed = await pushKeptSubmoduleCommits(g, 'origin', {})
    expect(pushed).toEqual([expect.objectContaining({ ok: true })])
    expect(
      await git(
        w.superOrigin.bareDir,
        ['rev-parse', `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`],
        w.env
      )
    ).toBe(subCommit)
    expect(await pushKeptSubmoduleCommits(g, 'origin', {})).toEqual([])
  })

  it('never runs what an agent planted in the module store config while asking the remote', async () => {
    const w = await submoduleWorld()
    const { g, worktrees, baseSha } = await manager(w.workspace, w.env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    const lib = path.join(wt.path, 'lib')
    // The module store is shared with the agents: one plants a command git would run for a
    // fetch in the store (uploadpack of a local remote), and leaves a commit to check.
    const planted = path.join(await tempDir('planted'), 'ran')
    const store = await git(lib, ['rev-parse', '--git-common-dir'], w.env)
    await git(
      lib,
      [
        'config',
        '--file',
        path.resolve(lib, store, 'config'),
        'remote.origin.uploadpack',
        `sh -c 'touch ${planted}; exec git-upload-pack "$1"' --`
      ],
      w.env
    )
    await writeFile(path.join(lib, 's.txt'), 'changed in the task\n')
    await git(lib, ['commit', '-qam', 'task change'], w.env)
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    expect((work as { error: string }).error).toContain('changed submodule lib to commit')
    expect(existsSync(planted)).toBe(false)
    await worktrees.removeAll()
  })

  it("merges a task that only moves the gitlink to a commit the submodule's remote has", async () => {
    const w = await submoduleWorld()
    const published = await commitToSub(w, 's2\n')
    const { g, worktrees, baseSha } = await manager(w.workspace, w.env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    const lib = path.join(wt.path, 'lib')
    await git(lib, ['fetch', '-q', 'origin'], w.env)
    await git(lib, ['checkout', '-q', '--detach', 'origin/main'], w.env)
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    expect(work).toEqual({ tip: expect.any(String) })
    expect(await g.out(['rev-parse', `${(work as { tip: string }).tip}:lib`])).toBe(published)
    await worktrees.removeAll()
  })
})

for (const mode of ['checkout', 'overlay'] as const) {
  const skipped = mode === 'overlay' && !mounter
  const describeIn = skipped ? describe.skip : describe
  describeIn(
    `submodules of submodules, ${mode} worktrees${skipped ? ` (skipped: ${cannotMount})` : ''}`,
    () => {
      const store = (w: { workspace: string }, ...names: string[]) =>
        path.join(w.workspace, '.git', ...names.flatMap((n) => ['modules', n]))

      it(`checks out the nested submodule inside its parent from local objects, with no network`, async () => {
        const w = await nestedSubmoduleWorld()
        // Every origin is gone: only the workspace's module stores can fill the worktree.
        for (const o of [w.inner, w.sub, w.superOrigin])
          await rename(o.bareDir, `${o.bareDir}.gone`)
        const { worktrees, baseSha } = await manager(w.workspace, w.env, undefined, mode)
        const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
        try {
          expect(await readFile(path.join(wt.path, 'lib/s.txt'), 'utf8')).toBe('s1\n')
          expect(await readFile(path.join(wt.path, 'lib/inner/i.txt'), 'utf8')).toBe('i1\n')
          const inner = path.join(wt.path, 'lib/inner')
          expect(await git(inner, ['rev-parse', '--show-toplevel'], w.env)).toBe(inner)
          // The nested worktree belongs to the workspace's nested module store.
          expect(
            await git(inner, ['rev-parse', '--path-format=absolute', '--git-common-dir'], w.env)
          ).toBe(store(w, 'lib', 'inner'))
          expect(await git(wt.path, ['status', '--porcelain'], w.env)).toBe('')
          expect(await git(path.join(wt.path, 'lib'), ['status', '--porcelain'], w.env)).toBe('')
        } finally {
          await worktrees.removeAll()
        }
        // Both module stores forget the task's worktrees with it.
        for (const s of [store(w, 'lib'), store(w, 'lib', 'inner')])
          expect(
            await git(w.workspace, ['--git-dir', s, 'worktree', 'list', '--porcelain'], w.env)
          ).not.toContain(worktrees.root)
      })

      it(`does not merge commits made in the nested submodule and its parent: the reason names both, innermost first, and both are kept`, async () => {
        const w = await nestedSubmoduleWorld()
        const { g, worktrees, baseSha } = await manager(w.workspace, w.env, undefined, mode)
        const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
        const lib = path.join(wt.path, 'lib')
        const inner = path.join(lib, 'inner')
        let work
        try {
          await writeFile(path.join(inner, 'i.txt'), 'changed in the task\n')
          await git(inner, ['commit', '-qam', 'task change in inner'], w.env)
          await git(lib, ['commit', '-qam', 'task: move inner'], w.env)
          const innerCommit = await git(inner, ['rev-parse', 'HEAD'], w.env)
          const libCommit = await git(lib, ['rev-parse', 'HEAD'], w.env)
          work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
          expect(work).toMatchObject({ keepBranch: true })
          const error = (work as { error: string }).error
          const innerProblem = `changed submodule lib/inner to commit ${innerCommit.slice(0, 12)}, which the submodule's remote ${w.inner.url} does not have`
          const libProblem = `changed submodule lib to commit ${libCommit.slice(0, 12)}, which the submodule's remote ${w.sub.url} does not have`
          expect(error).toContain(innerProblem)
          expect(error).toContain(libProblem)
          expect(error.indexOf(innerProblem)).toBeLessThan(error.indexOf(libProblem))
          expect(error).toContain(`git -C lib/inner push origin ${innerCommit}:refs/heads/<branch>`)
          const innerRef = `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib.modules/inner`
          expect(error).toContain(innerRef)
          await worktrees.removeAll()
          // Kept after the worktrees are gone: in the nested store, and in the superproject ...
          expect(
            await git(
              w.workspace,
              [
                '--git-dir',
                store(w, 'lib', 'inner'),
                'rev-parse',
                `${KEPT_SUBMODULE_REFS}/fanout/T1`
              ],
              w.env
            )
          ).toBe(innerCommit)
          expect(await g.out(['rev-parse', 'fanout/T1:lib'])).toBe(libCommit)
          // ... whose origin gets both commits (the runner goes away).
          expect(await pushKeptSubmoduleCommits(g, 'origin', {})).toEqual([
            expect.objectContaining({ ok: true }),
            expect.objectContaining({ ok: true })
          ])
          expect(await git(w.superOrigin.bareDir, ['rev-parse', innerRef], w.env)).toBe(innerCommit)
          expect(
            await git(
              w.superOrigin.bareDir,
              ['rev-parse', `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`],
              w.env
            )
          ).toBe(libCommit)
        } finally {
          await worktrees.removeAll()
        }
      })

      it('commits what the agent left uncommitted in lib/inner and lib, and does not merge it: kept like commits', async () => {
        const w = await nestedSubmoduleWorld()
        const { g, worktrees, baseSha } = await manager(w.workspace, w.env, undefined, mode)
        const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
        try {
          await writeFile(path.join(wt.path, 'lib/inner/i.txt'), 'uncommitted in inner\n')
          await writeFile(path.join(wt.path, 'lib/new.txt'), 'uncommitted in lib\n')
          const work = await collectWork(
            g,
            wt,
            collectOptions('fanout/T1', baseSha, await tempDir('k'))
          )
          expect(work).toMatchObject({ keepBranch: true })
          const error = (work as { error: string }).error
          expect(error).toMatch(
            /changed submodule lib\/inner to commit .* changed submodule lib to/
          )
          // The agent's files are in the kept commits, which the superproject branch points at.
          const libCommit = await g.out(['rev-parse', 'fanout/T1:lib'])
          expect(await g.out(['rev-parse', `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`])).toBe(
            libCommit
          )
          const kept = `${SUBMODULE_COMMIT_REFS}/fanout/T1`
          expect(await g.out(['show', `${kept}/lib:new.txt`])).toBe('uncommitted in lib')
          expect(await g.out(['show', `${kept}/lib.modules/inner:i.txt`])).toBe(
            'uncommitted in inner'
          )
        } finally {
          await worktrees.removeAll()
        }
      })

      it('commits a file left in lib after moving it to a published commit, with the inner gitlink that commit has (inner was not updated)', async () => {
        const w = await nestedSubmoduleWorld()
        const published = await publishNestedMove(w)
        const { g, worktrees, baseSha } = await manager(w.workspace, w.env, undefined, mode)
        const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
        try {
          const lib = path.join(wt.path, 'lib')
          await git(lib, ['fetch', '-q', 'origin'], w.env)
          await git(lib, ['checkout', '-q', '--detach', 'origin/main'], w.env)
          await writeFile(path.join(lib, 'extra.txt'), 'left in lib\n')
          const work = await collectWork(
            g,
            wt,
            collectOptions('fanout/T1', baseSha, await tempDir('k'))
          )
          expect((work as { error: string }).error).toContain('changed submodule lib to commit')
          const kept = `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`
          expect(await g.out(['rev-parse', `${kept}^`])).toBe(published)
          expect(await g.out(['show', `${kept}:extra.txt`])).toBe('left in lib')
          expect(await g.out(['rev-parse', `${kept}:inner`])).toBe(
            await g.out(['rev-parse', `${published}:inner`])
          )
        } finally {
          await worktrees.removeAll()
        }
      })

      it(`merges a task that only moves lib's gitlink to a commit lib's remote has`, async () => {
        const w = await nestedSubmoduleWorld()
        const published = await publishNestedMove(w)
        const { g, worktrees, baseSha } = await manager(w.workspace, w.env, undefined, mode)
        const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
        try {
          const lib = path.join(wt.path, 'lib')
          await git(lib, ['fetch', '-q', 'origin'], w.env)
          await git(lib, ['checkout', '-q', '--detach', 'origin/main'], w.env)
          const work = await collectWork(
            g,
            wt,
            collectOptions('fanout/T1', baseSha, await tempDir('k'))
          )
          expect(work).toEqual({ tip: expect.any(String) })
          expect(await g.out(['rev-parse', `${(work as { tip: string }).tip}:lib`])).toBe(published)
        } finally {
          await worktrees.removeAll()
        }
      })
    }
  )
}

describe('a private submodule remote (HTTP, token required)', () => {
  const TOKEN = 'ghs_privateSubmoduleToken0123456789'

  /** submoduleWorld whose submodule remote is lib's origin served over HTTP with TOKEN. */
  async function privateWorld(depth?: number) {
    const w = await submoduleWorld({ depth })
    const server = await startGitHttpServer({ root: path.dirname(w.sub.bareDir), token: TOKEN })
    const url = server.url(path.basename(w.sub.bareDir))
    const store = path.join(w.workspace, '.git/modules/lib')
    await git(w.workspace, ['--git-dir', store, 'remote', 'set-url', 'origin', url], w.env)
    await git(w.workspace, ['config', 'submodule.lib.url', url], w.env)
    // A commit on the remote that the store has as an object but on no ref (FETCH_HEAD only), so
    // only asking the remote can tell it is published.
    const published = await commitToSub(w, 's2\n')
    await git(w.workspace, ['--git-dir', store, 'fetch', '-q', w.sub.url, 'main'], w.env)
    const { g, worktrees, baseSha } = await manager(w.workspace, w.env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    await git(path.join(wt.path, 'lib'), ['checkout', '-q', '--detach', published], w.env)
    const storeConfig = await readFile(path.join(store, 'config'), 'utf8')
    return { w, server, url, store, storeConfig, published, g, worktrees, wt, baseSha }
  }

  it("asks it with the action's token when it is on origin's host, and merges a commit it has", async () => {
    const p = await privateWorld()
    try {
      // Origin on the same host (another repository): the token goes to the submodule too.
      const remoteAuth = sameOriginAuth(TOKEN, p.server.url('super.git'))
      // Every git process the check starts is recorded: its command line and environment.
      const seen = path.join(await tempDir('git-seen'), 'log')
      const wrapper = path.join(path.dirname(seen), 'git')
      await writeFile(wrapper, '#!/bin/sh\n{ echo "$*"; env; } >> "$SEEN_LOG"\nexec git "$@"\n', {
        mode: 0o755
      })
      const g = new Git(p.w.workspace, {
        env: { ...p.w.env, SEEN_LOG: seen },
        identity: IDENTITY,
        gitPath: wrapper
      })
      const work = await collectWork(g, p.wt, {
        ...collectOptions('fanout/T1', p.baseSha, await tempDir('k')),
        remoteAuth
      })
      expect(work).toEqual({ tip: expect.any(String) })
      expect(await p.g.out(['rev-parse', `${(work as { tip: string }).tip}:lib`])).toBe(p.published)
      expect(p.server.authorizations).toContain(basicToken(TOKEN))
      // Never where another process of the user (an agent still running) could read it.
      const log = await readFile(seen, 'utf8')
      expect(log).toContain('fetch')
      expect(log).not.toContain(TOKEN)
      expect(log).not.toContain(basicToken(TOKEN).split(' ')[1])
      // Never written where an agent could read it: the module store's config is as it was.
      expect(await readFile(path.join(p.store, 'config'), 'utf8')).toBe(p.storeConfig)
    } finally {
      await p.worktrees.removeAll()
      await p.server.stop()
    }
  })

  it("asks it from a shallow module store too (actions/checkout's default), and merges a commit it has", async () => {
    const p = await privateWorld(1)
    // The remote has moved on since: there is something to download.
    await commitToSub(p.w, 's3\n')
    try {
      const store = ['--git-dir', p.store]
      expect(
        await git(p.w.workspace, [...store, 'rev-parse', '--is-shallow-repository'], p.w.env)
      ).toBe('true')
      const work = await collectWork(p.g, p.wt, {
        ...collectOptions('fanout/T1', p.baseSha, await tempDir('k')),
        remoteAuth: sameOriginAuth(TOKEN, p.server.url('super.git'))
      })
      expect(work).toEqual({ tip: expect.any(String) })
      // The remote was told what the store has, so it sent only the rest (not all history).
      const storeTip = await git(p.w.workspace, [...store, 'rev-parse', 'origin/main'], p.w.env)
      expect(p.server.bodies.some((b) => b.includes(`have ${storeTip}`))).toBe(true)
    } finally {
      await p.worktrees.removeAll()
      await p.server.stop()
    }
  })

  it("says it could not check, with git's message, when the remote cannot be asked, and keeps the work", async () => {
    const p = await privateWorld()
    try {
      // Another host's token rule gives nothing for this remote: it is asked without a token.
      const remoteAuth = sameOriginAuth(TOKEN, 'https://elsewhere.example/super.git')
      const work = await collectWork(p.g, p.wt, {
        ...collectOptions('fanout/T1', p.baseSha, await tempDir('k')),
        remoteAuth
      })
      expect(work).toMatchObject({ keepBranch: true })
      const error = (work as { error: string }).error
      expect(error).toContain(
        `could not check whether ${p.url} has ${p.published.slice(0, 12)}: fatal:`
      )
      expect(error).not.toContain('does not have')
      expect(error).toContain(`${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`)
      expect(p.server.authorizations).not.toContain(basicToken(TOKEN))
      expect(await p.g.out(['rev-parse', `${SUBMODULE_COMMIT_REFS}/fanout/T1/lib`])).toBe(
        p.published
      )
      // The server gone altogether: the same, with git's words for it.
      await p.server.stop()
      const again = await collectWork(p.g, p.wt, {
        ...collectOptions('fanout/T1', p.baseSha, await tempDir('k')),
        remoteAuth: sameOriginAuth(TOKEN, p.url)
      })
      expect((again as { error: string }).error).toMatch(
        new RegExp(
          `could not check whether ${p.url} has ${p.published.slice(0, 12)}: fatal: unable to access`
        )
      )
    } finally {
      await p.worktrees.removeAll()
      await p.server.stop()
    }
  })
})

// Skipped, with the reason in the test's name, where git-lfs is not installed (.ci/run installs it).
const LFS_MISSING = await lfsMissing()
const describeLfs = LFS_MISSING ? describe.skip : describe
const skipNote = LFS_MISSING ? ` (skipped: ${LFS_MISSING})` : ''

describeLfs(`Git LFS${skipNote}`, () => {
  it('worktrees get the content from the shared store, and the guard sees no change from git-lfs', async () => {
    const origin = await lfsOrigin()
    // Checked out without LFS (actions/checkout's default): pointers, no hooks, no lfs config.
    const plain = { ...origin, home: await tempDir('plain-home') }
    const workspace = await cloneWorkspace(plain, { depth: 1 })
    expect(isPointer(await readFile(path.join(workspace, 'big.bin'), 'utf8'))).toBe(true)
    // The runner has git-lfs installed globally (its filters in ~/.gitconfig).
    const env = isolatedGitEnv(await lfsHome())
    const g = new Git(workspace, { env, identity: IDENTITY })
    const baseSha = await g.out(['rev-parse', 'HEAD'])
    expect(await usesLfs(g, baseSha)).toBe(true)
    const logger = memoryLogger()
    expect(await prepareLfs(g, 'origin', baseSha, {}, logger)).toBe(true)
    const guard = await SharedGitGuard.snapshot(g)
    const { worktrees } = await manager(workspace, env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    expect(await readFile(path.join(wt.path, 'big.bin'), 'utf8')).toBe(LFS_CONTENT)
    // An agent's own git runs git-lfs with hooks on: git-lfs installs its hooks on first use.
    await rm(path.join(wt.path, 'big.bin'))
    await git(wt.path, ['checkout', '--', 'big.bin'], env)
    expect(await readFile(path.join(wt.path, 'big.bin'), 'utf8')).toBe(LFS_CONTENT)
    expect(await guard.restore()).toEqual([])
    await worktrees.removeAll()
  })

  it("a workspace's own pre-push hook, which git-lfs will not overwrite, is left alone: worktrees get the content, the log says why the hooks were not installed", async () => {
    const origin = await lfsOrigin()
    const plain = { ...origin, home: await tempDir('plain-home') }
    const workspace = await cloneWorkspace(plain, { depth: 1 })
    const hook = '#!/bin/sh\nexit 0\n'
    await writeFile(path.join(workspace, '.git/hooks/pre-push'), hook, { mode: 0o755 })
    const env = isolatedGitEnv(plain.home)
    const g = new Git(workspace, { env, identity: IDENTITY })
    const baseSha = await g.out(['rev-parse', 'HEAD'])
    const logger = memoryLogger()
    expect(await prepareLfs(g, 'origin', baseSha, {}, logger)).toBe(true)
    expect(logger.lines).toContain(
      "git-lfs's hooks were not installed (this repository's own pre-push hook is in the way); worktrees get LFS content all the same."
    )
    expect(await readFile(path.join(workspace, '.git/hooks/pre-push'), 'utf8')).toBe(hook)
    const { worktrees } = await manager(workspace, env)
    const wt = await worktrees.create('T1', 'fanout/T1', baseSha)
    expect(await readFile(path.join(wt.path, 'big.bin'), 'utf8')).toBe(LFS_CONTENT)
    await worktrees.removeAll()
  })

  it('pushes a task branch with its LFS objects: a clone of it gets the content', async () => {
    const origin = await lfsOrigin()
    const env = isolatedGitEnv(origin.home)
    const workspace = await cloneWorkspace(origin, { depth: 1 })
    const g = new Git(workspace, { env, identity: IDENTITY })
    const baseSha = await g.out(['rev-parse', 'HEAD'])
    await prepareLfs(g, 'origin', baseSha, {}, memoryLogger())
    const { worktrees } = await manager(workspace, env)
    const wt: Worktree = await worktrees.create('T1', 'fanout/T1', baseSha)
    await writeTree(wt.path, { 'big.bin': 'new LFS content\n', 'new.bin': 'added\n' })
    const work = await collectWork(g, wt, collectOptions('fanout/T1', baseSha, await tempDir('k')))
    const tip = (work as { tip: string }).tip
    expect(isPointer(await g.out(['show', `${tip}:big.bin`]))).toBe(true)
    const [pushed] = await pushBranches(
      g,
      'origin',
      [{ branch: 'fanout/T1', sha: tip, expected: undefined }],
      {}
    )
    expect(pushed).toMatchObject({ ok: true })
    const clone = await tempDir('lfs-clone')
    await git(clone, ['clone', '-q', '-b', 'fanout/T1', origin.url, '.'], env)
    expect(await readFile(path.join(clone, 'big.bin'), 'utf8')).toBe('new LFS content\n')
    expect(await readFile(path.join(clone, 'new.bin'), 'utf8')).toBe('added\n')
    await worktrees.removeAll()
  })
})
