// setup-command (src/core/setup.ts): run once with the agents' environment rules, a failure
// stops everything with its log tail, and what it leaves never lands in a task's commit unless
// the task changed it: in checkout worktrees (set-up in each) and overlay ones (set-up in the
// shared base) alike.
import { afterAll, describe, expect, it } from '@jest/globals'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { collectWork, taskCollectOptions, type RunContext } from '../src/core/git/collect.js'
import { Git } from '../src/core/git/git.js'
import { mountAbility, Mounter, mountsUnder } from '../src/core/git/overlay.js'
import { releaseOverlays } from '../src/core/git/overlay-layers.js'
import { WorktreeManager, worktreeEnv, type Worktree } from '../src/core/git/worktrees.js'
import { memoryLogger } from '../src/core/logger.js'
import {
  recordSetupPaths,
  runSetup,
  setupExcludes,
  SetupError,
  type SetupPaths
} from '../src/core/setup.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

const TOKEN = 'ghs_setupTokenThatMustNotLeak0123456789'
const identity = { name: 'Agent Fanout', email: 'fanout@example.test' }
// Probed before the tests are named, so a skip says why in its name.
const ability = await mountAbility(await tempDir('setup-probe'))
const mounter: Mounter | undefined = ability.via ? new Mounter(ability.via) : undefined
const unavailable = ability.via ? '' : ability.reason
const roots: string[] = []
afterAll(async () => {
  for (const root of roots) await releaseOverlays(root).catch(() => undefined)
  await removeTempDirs()
})

// Creates an untracked folder, an untracked file and an ignored folder, and changes a tracked file.
const SETUP = [
  'mkdir -p gen/lib node_modules/x',
  'echo built > gen/lib/out.js',
  'echo local > local.cfg',
  'echo dep > node_modules/x/index.js',
  'echo 2 > version.txt',
  'env > "$SETUP_ENV_DUMP"'
].join(' && ')

async function setupRun(cwd: string, dir: string, command = SETUP) {
  return runSetup({
    command,
    cwd,
    baseEnv: {
      PATH: process.env.PATH,
      GH_TOKEN: TOKEN,
      INPUT_GITHUB_TOKEN: TOKEN,
      SETUP_ENV_DUMP: path.join(dir, 'env.txt')
    },
    secrets: [TOKEN],
    identity,
    marker: { name: 'AGENT_FANOUT_MARKER', value: `setup-${path.basename(dir)}` },
    logFile: path.join(dir, 'setup.log'),
    timeoutMs: 60_000,
    killGraceMs: 500
  })
}

describe('setup-command', () => {
  it('fails the run with its log tail, and runs without the token', async () => {
    const dir = await tempDir('setup-fail')
    const failed = await setupRun(dir, dir, 'echo "npm ERR! missing script: ci" >&2; exit 3').catch(
      (error: unknown) => error
    )
    expect(failed).toBeInstanceOf(SetupError)
    expect((failed as SetupError).message).toMatch(/exited with status 3/)
    expect((failed as SetupError).tail).toContain('npm ERR! missing script: ci')

    await setupRun(dir, dir, 'env > "$SETUP_ENV_DUMP"')
    const env = await readFile(path.join(dir, 'env.txt'), 'utf8')
    expect(env).not.toContain(TOKEN)
    expect(env).not.toMatch(/^INPUT_/m)
  })

  describe.each(['checkout', 'overlay'] as const)('in %s worktrees', (mode) => {
    const skip = (): boolean => mode === 'overlay' && !mounter
    it(`leaves what it made out of task commits unless the task changed it${mode === 'overlay' && unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
      if (skip()) return
      const origin = await createOrigin({
        'version.txt': '1\n',
        '.gitignore': 'node_modules/\n',
        'src/a.txt': 'a\n'
      })
      const workspace = await cloneWorkspace(origin, { depth: 1 })
      const env = isolatedGitEnv(origin.home)
      const g = new Git(workspace, { env })
      const sha = await g.out(['rev-parse', 'HEAD'])
      const work = await tempDir('setup-run')
      const root = path.join(work, 'worktrees')
      roots.push(root)
      const manager = new WorktreeManager(
        g,
        root,
        memoryLogger(),
        'auto',
        mode === 'overlay' ? mounter : undefined
      )
      await manager.recover()
      const perWorktree = new Map<string, SetupPaths>()
      let shared: SetupPaths | undefined
      try {
        const base = await manager.prepareBase(sha)
        if (base) {
          await setupRun(base, work)
          shared = await recordSetupPaths(g, (await manager.baseAt())!)
        }
        await manager.sealBase()
        const make = async (id: string): Promise<Worktree> => {
          const wt = await manager.create(id, `fan/${id}`, sha)
          if (!shared) {
            await setupRun(wt.path, work)
            perWorktree.set(
              wt.path,
              await recordSetupPaths(g, { cwd: wt.path, env: worktreeEnv(wt) })
            )
          }
          return wt
        }
        const [quiet, busy] = [await make('T1'), await make('T2')]
        // The set-up's files are there for the agents in either mode.
        expect(await readFile(path.join(quiet.path, 'gen/lib/out.js'), 'utf8')).toBe('built\n')
        const context: RunContext = {
          issueNumber: 1,
          baseBranch: 'main',
          branchPrefix: 'fan',
          checkedOut: new Map(),
          keepDir: path.join(work, 'kept'),
          excludes: [],
          setupExcludes: (wt) =>
            setupExcludes(
              g,
              { cwd: wt.path, env: worktreeEnv(wt) },
              shared ?? perWorktree.get(wt.path)!
            )
        }
        await writeFile(path.join(quiet.path, 'src/a.txt'), 'quiet task\n')
        await writeFile(path.join(busy.path, 'src/a.txt'), 'busy task\n')
        await writeFile(path.join(busy.path, 'local.cfg'), 'changed by the task\n')
        for (const [wt, id] of [
          [quiet, 'T1'],
          [busy, 'T2']
        ] as const) {
          const done = await collectWork(
            g,
            wt,
            taskCollectOptions(context, { id, title: id }, `fan/${id}`, sha)
          )
          expect('tip' in done).toBe(true)
        }
        const files = async (branch: string): Promise<string[]> =>
          (await git(workspace, ['diff', '--name-only', sha, branch], env)).split('\n')
        expect(await files('fan/T1')).toEqual(['src/a.txt'])
        expect(await files('fan/T2')).toEqual(['local.cfg', 'src/a.txt'])
        expect(await git(workspace, ['show', 'fan/T2:local.cfg'], env)).toBe('changed by the task')
        expect(await git(workspace, ['show', 'fan/T1:version.txt'], env)).toBe('1')
      } finally {
        await manager.removeAll()
      }
      expect(await mountsUnder(work)).toEqual([])
    })
  })
})
