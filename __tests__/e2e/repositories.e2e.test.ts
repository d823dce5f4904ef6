// Issue 16 through the bundle (dist/index.js; rebuild with `npm run package`): a repository with
// Git LFS files, a monorepo checked out sparsely, and a superproject with a submodule, each run
// by the action as the runner runs it, and judged by what a user sees: the branches on the
// stand-in origin (cloned with LFS), the outputs and the log.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile, symlink } from 'node:fs/promises'
import path from 'node:path'
import { mountAbility } from '../../src/core/git/overlay.js'
import { FakeGitHub } from '../../test-support/fake-github.js'
import { basicToken, startGitHttpServer } from '../../test-support/git-http-server.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir,
  type Origin
} from '../../test-support/git-fixtures.js'
import {
  isPointer,
  LFS_CONTENT,
  lfsHome,
  lfsMissing,
  lfsOrigin,
  commitToSub,
  nestedSubmoduleWorld,
  publishNestedMove,
  submoduleWorld
} from '../../test-support/repo-fixtures.js'
import {
  act,
  INTEGRATION,
  ISSUE,
  PREFIX,
  showOnOrigin,
  statuses,
  tasksOutput,
  useCleanup,
  type World
} from '../adversarial/support.js'

useCleanup()

const stopLater: FakeGitHub[] = []

/** The adversarial suite's world, around an origin and workspace made here. */
async function worldOf(origin: Origin, workspace: string, body: string): Promise<World> {
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  stopLater.push(api)
  api.addIssue({ number: ISSUE, title: 'Repository kinds', body, user: { login: 'author' } })
  api.setPermission('maintainer', 'write')
  return {
    origin,
    api,
    workspace,
    scratch: await tempDir('repo-scratch'),
    env: isolatedGitEnv(origin.home)
  }
}

// The stand-ins made here are not in support.ts's list: stopped at the end.
afterAll(async () => {
  await Promise.all(stopLater.splice(0).map((s) => s.stop()))
})

const files = async (w: World, ref: string) =>
  (await git(w.origin.bareDir, ['ls-tree', '-r', '--name-only', ref], w.env))
    .split('\n')
    .filter(Boolean)
    .sort()

const LFS_MISSING = await lfsMissing()
const describeLfs = LFS_MISSING ? describe.skip : describe
const skipNote = LFS_MISSING ? ` (skipped: ${LFS_MISSING})` : ''

describeLfs(`Git LFS${skipNote}`, () => {
  it("pushes the integration and task branches with their LFS objects: a clone gets the content, and git-lfs's own writes raise no warning", async () => {
    const origin = await lfsOrigin()
    // Checked out the way actions/checkout does by default (lfs: false): pointer files.
    const workspace = await cloneWorkspace({ ...origin, home: await tempDir('plain-home') })
    expect(isPointer(await readFile(path.join(workspace, 'big.bin'), 'utf8'))).toBe(true)
    const w = await worldOf(origin, workspace, '- [ ] T1: Change the big file\n- [ ] T2: Add one\n')
    const agent = [
      'cp big.bin "$SCRATCH/seen-$TASK_ID.bin"',
      'case "$TASK_ID" in',
      // git-lfs runs in the agent's own git (hooks on): it installs its hooks on first use.
      '  T1) rm big.bin; git checkout -- big.bin; printf "changed by T1\\n" > big.bin ;;',
      '  T2) printf "new LFS file\\n" > assets/t2.bin ;;',
      'esac'
    ].join('\n')
    // The runner has git-lfs installed (its filters in ~/.gitconfig), as GitHub's do.
    const home = await lfsHome()
    const r = await act(w, agent, { env: { HOME: home } })
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    // Each worktree had the content, not the pointer.
    for (const id of ['T1', 'T2'])
      expect(await readFile(path.join(w.scratch, `seen-${id}.bin`), 'utf8')).toBe(LFS_CONTENT)
    expect(r.stdout).not.toContain('shared .git was changed')

    const lfsEnv = isolatedGitEnv(home)
    const cloneOf = async (branch: string): Promise<string> => {
      const clone = await tempDir('lfs-clone')
      await git(clone, ['clone', '-q', '-b', branch, origin.url, '.'], lfsEnv)
      return clone
    }
    const task = await cloneOf(`${PREFIX}/T1`)
    expect(await readFile(path.join(task, 'big.bin'), 'utf8')).toBe('changed by T1\n')
    const integration = await cloneOf(INTEGRATION)
    expect(await readFile(path.join(integration, 'big.bin'), 'utf8')).toBe('changed by T1\n')
    expect(await readFile(path.join(integration, 'assets/t2.bin'), 'utf8')).toBe('new LFS file\n')
    expect(await readFile(path.join(integration, 'assets/other.bin'), 'utf8')).toBe(
      `other ${LFS_CONTENT}`
    )
    // Committed as LFS pointers, as .gitattributes says.
    expect(isPointer(await showOnOrigin(w, INTEGRATION, 'assets/t2.bin'))).toBe(true)
  }, 120_000)
})

describe('sparse-checkout', () => {
  it('shows each task the cone (narrowed by its paths:), merges its work, and the integration branch keeps every file of the base', async () => {
    const base = {
      'README.md': '# Monorepo\n',
      'packages/api/src/a.ts': 'a\n',
      'packages/api/test/a.test.ts': 't\n',
      'packages/web/w.ts': 'w\n',
      'docs/d.md': 'd\n'
    }
    const origin = await createOrigin(base)
    const workspace = await cloneWorkspace(origin)
    const body = [
      '- [ ] T1: Change the API',
      '  paths: packages/api/src',
      '- [ ] T2: Anything in the cone'
    ].join('\n')
    const w = await worldOf(origin, workspace, body)
    const agent = [
      'find . -path ./.git -prune -o -type f -print | sort > "$SCRATCH/files-$TASK_ID"',
      'cp "$TASK_PROMPT_FILE" "$SCRATCH/prompt-$TASK_ID.md"',
      'case "$TASK_ID" in',
      '  T1) echo changed > packages/api/src/a.ts ;;',
      '  T2) echo new > packages/api/new.ts ;;',
      'esac'
    ].join('\n')
    const r = await act(w, agent, {
      inputs: {
        'sparse-checkout': 'packages/api\n',
        'verify-command':
          'find . -path ./.git -prune -o -type f -print | sort > "$SCRATCH/files-verify"'
      }
    })
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    const seen = (id: string) => readFile(path.join(w.scratch, `files-${id}`), 'utf8')
    expect((await seen('T1')).split('\n').filter(Boolean)).toEqual([
      './README.md',
      './packages/api/src/a.ts'
    ])
    expect((await seen('T2')).split('\n').filter(Boolean)).toEqual([
      './README.md',
      './packages/api/src/a.ts',
      './packages/api/test/a.test.ts'
    ])
    // The verify worktree shows the run's cone, at the integration branch.
    expect((await seen('verify')).split('\n').filter(Boolean)).toEqual([
      './README.md',
      './packages/api/new.ts',
      './packages/api/src/a.ts',
      './packages/api/test/a.test.ts'
    ])
    expect(await readFile(path.join(w.scratch, 'prompt-T1.md'), 'utf8')).toContain(
      'packages/api/src/'
    )
    expect(await files(w, INTEGRATION)).toEqual(
      [...Object.keys(base), 'packages/api/new.ts'].sort()
    )
    expect(await showOnOrigin(w, INTEGRATION, 'packages/api/src/a.ts')).toBe('changed')
    expect(tasksOutput(r).find((t) => t.id === 'T1')?.changedFiles).toEqual([
      'packages/api/src/a.ts'
    ])
  }, 120_000)

  it('refuses, before any agent, a task whose paths: lie outside the sparse-checkout input', async () => {
    const origin = await createOrigin({ 'README.md': 'x\n', 'a/x.txt': 'x\n', 'b/y.txt': 'y\n' })
    const w = await worldOf(origin, await cloneWorkspace(origin), '- [ ] T1: B\n  paths: b\n')
    const r = await act(w, 'touch "$SCRATCH/ran"', { inputs: { 'sparse-checkout': 'a' } })
    expect(r.exitCode).not.toBe(0)
    expect(r.errors.join('\n')).toContain(
      'Task T1: its paths: line names b, which is outside the sparse-checkout input (a)'
    )
    expect(existsSync(path.join(w.scratch, 'ran'))).toBe(false)
  }, 120_000)
})

describe('submodules', () => {
  it('gives each task the submodule from the workspace; a submodule commit its remote lacks is not merged and the report says where it is', async () => {
    const s = await submoduleWorld()
    const w = await worldOf(
      s.superOrigin,
      s.workspace,
      '- [ ] T1: Edit inside lib\n- [ ] T2: Read lib\n'
    )
    const agent = [
      'cat lib/s.txt > "$SCRATCH/lib-$TASK_ID"',
      'case "$TASK_ID" in',
      '  T1) cd lib && echo task > s.txt && git commit -qam "in the submodule" ;;',
      '  T2) echo read > read.txt ;;',
      'esac'
    ].join('\n')
    const r = await act(w, agent)
    expect(await readFile(path.join(w.scratch, 'lib-T2'), 'utf8')).toBe('s1\n')
    expect(statuses(r)).toEqual([
      ['T1', 'failed'],
      ['T2', 'merged']
    ])
    const t1 = tasksOutput(r).find((t) => t.id === 'T1')!
    expect(t1.reason).toContain('changed submodule lib to commit')
    expect(t1.reason).toContain('refs/agent-fanout/kept/')
    // The task branch is kept on the origin with the gitlink; the integration branch is not moved.
    const gitlink = await git(w.origin.bareDir, ['rev-parse', `${PREFIX}/T1:lib`], w.env)
    expect(
      await git(s.workspace, ['--git-dir', '.git/modules/lib', 'cat-file', '-t', gitlink], w.env)
    ).toBe('commit')
    expect(await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}:lib`], w.env)).not.toBe(
      gitlink
    )
    // The submodule commit itself reached the origin under the ref the reason names.
    const keptRef = /refs\/agent-fanout\/submodules\/\S+?(?=[,:;]|\s|$)/.exec(t1.reason ?? '')?.[0]
    expect(keptRef).toBe(`refs/agent-fanout/submodules/${PREFIX}/T1/lib`)
    expect(await git(w.origin.bareDir, ['rev-parse', keptRef!], w.env)).toBe(gitlink)
  }, 120_000)

  it("hides the token actions/checkout persisted in each submodule's config while agents run, and puts it back after", async () => {
    const s = await submoduleWorld()
    const w = await worldOf(s.superOrigin, s.workspace, '- [ ] T1: Look around in lib\n')
    // What actions/checkout does with `submodules: true` and persisted credentials.
    const header = `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${w.api.token}`).toString('base64')}`
    await git(
      s.workspace,
      [
        'submodule',
        'foreach',
        '--recursive',
        `git config --local http.https://github.com/.extraheader '${header}'`
      ],
      w.env
    )
    const storeConfig = path.join(s.workspace, '.git/modules/lib/config')
    const before = await readFile(storeConfig, 'utf8')
    expect(before).toContain(header)
    const agent = [
      'cd lib',
      'git config --list --show-origin > "$SCRATCH/seen"',
      'cat "$(git rev-parse --git-common-dir)/config" >> "$SCRATCH/seen"',
      'echo read > ../read.txt'
    ].join('\n')
    const r = await act(w, agent, { inputs: { 'worktree-mode': 'checkout' } })
    expect(r.exitCode).toBe(0)
    const seen = await readFile(path.join(w.scratch, 'seen'), 'utf8')
    expect(seen).toContain('remote.origin.url') // it did read lib's own config
    expect(seen).not.toMatch(/extraheader|authorization/i)
    expect(seen).not.toContain(Buffer.from(`x-access-token:${w.api.token}`).toString('base64'))
    expect(r.stdout).toMatch(
      /Hid the credentials actions\/checkout persisted \(1 config entry; 1 of the configs are submodules'\)/
    )
    // Later steps of the job find the submodule's config as checkout left it.
    expect(await readFile(storeConfig, 'utf8')).toBe(before)
  }, 120_000)

  it('in a matrix task job too: the submodule commit it could not merge reaches the origin', async () => {
    const s = await submoduleWorld()
    const w = await worldOf(s.superOrigin, s.workspace, '- [ ] T1: Edit inside lib\n')
    const plan = await act(w, '', { inputs: { mode: 'plan', 'agent-command': '' } })
    expect(plan.exitCode).toBe(0)
    const agent = 'cd lib && echo task > s.txt && git commit -qam "in the submodule"'
    const task = await act(w, agent, {
      inputs: { mode: 'task', 'task-id': 'T1', 'issue-number': String(ISSUE) }
    })
    expect(statuses(task)).toEqual([['T1', 'failed']])
    const gitlink = await git(w.origin.bareDir, ['rev-parse', `${PREFIX}/T1:lib`], w.env)
    const kept = `refs/agent-fanout/submodules/${PREFIX}/T1/lib`
    expect(tasksOutput(task)[0].reason).toContain(kept)
    expect(await git(w.origin.bareDir, ['rev-parse', kept], w.env)).toBe(gitlink)
  }, 180_000)
})

// Overlay worktrees need mounts (root or passwordless sudo): skipped, with the reason, elsewhere.
const mounting = await mountAbility(await tempDir('e2e-probe'))

for (const mode of ['checkout', 'overlay'] as const) {
  const cannot = mode === 'overlay' && !mounting.via
  const describeIn = cannot ? describe.skip : describe
  describeIn(
    `submodules of submodules, ${mode} worktrees${cannot ? ` (skipped: ${mounting.reason})` : ''}`,
    () => {
      it('checks lib/inner out in every task; commits in inner and lib are not merged and both reach the origin; a published gitlink move merges', async () => {
        const s = await nestedSubmoduleWorld()
        const published = await publishNestedMove(s)
        const w = await worldOf(
          s.superOrigin,
          s.workspace,
          '- [ ] T1: Edit inside lib/inner\n- [ ] T2: Move lib\n- [ ] T3: Read lib/inner\n'
        )
        const agent = [
          'cat lib/inner/i.txt > "$SCRATCH/inner-$TASK_ID"',
          'case "$TASK_ID" in',
          '  T1) (cd lib/inner && echo task > i.txt && git commit -qam "in inner") &&',
          '      (cd lib && git commit -qam "move inner") ;;',
          '  T2) cd lib && git fetch -q origin && git checkout -q --detach origin/main ;;',
          '  T3) echo read > read.txt ;;',
          'esac'
        ].join('\n')
        const r = await act(w, agent, { inputs: { 'worktree-mode': mode } })
        expect(r.stdout).toContain(`Worktrees: ${mode} worktrees (worktree-mode: ${mode}`)
        for (const id of ['T1', 'T2', 'T3'])
          expect(await readFile(path.join(w.scratch, `inner-${id}`), 'utf8')).toBe('i1\n')
        expect(statuses(r)).toEqual([
          ['T1', 'failed'],
          ['T2', 'merged'],
          ['T3', 'merged']
        ])
        const reason = tasksOutput(r).find((t) => t.id === 'T1')?.reason ?? ''
        expect(reason).toMatch(/changed submodule lib\/inner to commit .* changed submodule lib to/)
        const kept = `refs/agent-fanout/submodules/${PREFIX}/T1`
        expect(reason).toContain(`${kept}/lib.modules/inner`)
        // Both commits reached the origin, under the refs the reason names.
        const libCommit = await git(w.origin.bareDir, ['rev-parse', `${PREFIX}/T1:lib`], w.env)
        expect(await git(w.origin.bareDir, ['rev-parse', `${kept}/lib`], w.env)).toBe(libCommit)
        const innerCommit = await git(
          w.origin.bareDir,
          ['rev-parse', `${kept}/lib.modules/inner`],
          w.env
        )
        expect(await git(w.origin.bareDir, ['cat-file', '-p', innerCommit], w.env)).toContain(
          'in inner'
        )
        // The integration branch has T2's move and T3's file, not T1's commits.
        expect(await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}:lib`], w.env)).toBe(
          published
        )
        expect(await showOnOrigin(w, INTEGRATION, 'read.txt')).toBe('read')
      }, 180_000)
    }
  )
}

describe('a private submodule remote on the same host as origin', () => {
  it("is asked with the action's token: a gitlink move to a commit it has merges, one to a commit it lacks does not", async () => {
    const s = await submoduleWorld()
    const w = await worldOf(s.superOrigin, s.workspace, '- [ ] T1: Move lib\n- [ ] T2: Edit lib\n')
    // Origin and the submodule served over HTTP by one server that wants the action's token.
    const root = await tempDir('private-root')
    await symlink(s.superOrigin.bareDir, path.join(root, 'super.git'))
    await symlink(s.sub.bareDir, path.join(root, 'lib.git'))
    const server = await startGitHttpServer({ root, token: w.api.token })
    try {
      await git(s.workspace, ['remote', 'set-url', 'origin', server.url('super.git')], s.env)
      const store = ['--git-dir', '.git/modules/lib']
      await git(
        s.workspace,
        [...store, 'remote', 'set-url', 'origin', server.url('lib.git')],
        s.env
      )
      await git(s.workspace, ['config', 'submodule.lib.url', server.url('lib.git')], s.env)
      // A commit on the submodule's remote that the workspace has not fetched: only asking the
      // remote (with a token) can tell it is there. The agent gets it from a path of its own.
      const published = await commitToSub(s, 's2\n')
      const agent = [
        'env > "$SCRATCH/env-$TASK_ID"',
        'cd lib',
        'case "$TASK_ID" in',
        '  T1) git fetch -q "$SUB_PATH" main && git checkout -q --detach FETCH_HEAD ;;',
        '  T2) echo task > s.txt && git commit -qam "in lib" ;;',
        'esac'
      ].join('\n')
      const r = await act(w, agent, {
        inputs: { 'worktree-mode': 'checkout' },
        env: { SUB_PATH: s.sub.bareDir }
      })
      expect(statuses(r)).toEqual([
        ['T1', 'merged'],
        ['T2', 'failed']
      ])
      expect(await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}:lib`], w.env)).toBe(
        published
      )
      const reason = tasksOutput(r).find((t) => t.id === 'T2')?.reason ?? ''
      expect(reason).toContain(
        `which the submodule's remote ${server.url('lib.git')} does not have`
      )
      expect(server.authorizations).toContain(basicToken(w.api.token))
      // Agents never saw the token: not in their environment, not in the module store's config.
      for (const id of ['T1', 'T2'])
        expect(await readFile(path.join(w.scratch, `env-${id}`), 'utf8')).not.toContain(w.api.token)
      expect(await readFile(path.join(s.workspace, '.git/modules/lib/config'), 'utf8')).not.toMatch(
        /extraheader|authorization/i
      )
    } finally {
      await server.stop()
    }
  }, 180_000)
})
