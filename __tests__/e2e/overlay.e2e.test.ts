// Overlay worktrees through the bundles (dist/index.js, dist/cli/index.js; rebuild them with
// `npm run package`): a main step killed outright leaves its mounts to the post step, a killed
// CLI leaves them to the next run, and a run that ends by itself leaves none.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile, spawn } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { mountAbility, mountsUnder } from '../../src/core/git/overlay.js'
import { releaseOverlays } from '../../src/core/git/overlay-layers.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir
} from '../../test-support/git-fixtures.js'
import { livingProcesses } from '../../test-support/processes.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import {
  act,
  INTEGRATION,
  ISSUE,
  originBranches,
  showOnOrigin,
  statusComments,
  statuses,
  useCleanup,
  world,
  type World
} from '../adversarial/support.js'

useCleanup()
const run = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
// Told apart from any other run's sleeps (see cli-interrupts.e2e.test.ts).
const SLEEP = 900 + Math.floor(Math.random() * 2000)
// Probed before the tests are named, so a skip says why in its name.
const ability = await mountAbility(await tempDir('e2e-probe'))
const unavailable = ability.via ? '' : ` (skipped: ${ability.reason})`
const leftovers: string[] = []
afterAll(async () => {
  for (const dir of leftovers)
    await releaseOverlays(path.join(dir, 'worktrees')).catch(() => undefined)
})

const startedIn = async (dir: string): Promise<string[]> =>
  (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.started'))

describe('overlay worktrees, end to end', () => {
  it(`a main step killed outright leaves its mounts to the post step, which undoes them${unavailable}`, async () => {
    if (unavailable) return
    const w: World = await world('- [ ] one\n- [ ] two\n')
    const agent = `touch "$SCRATCH/$TASK_ID.started"; sleep ${SLEEP}`
    const main = await act(w, agent, {
      inputs: { 'worktree-mode': 'overlay' },
      onSpawn: (child) => {
        void (async () => {
          for (let i = 0; i < 300 && (await startedIn(w.scratch)).length < 2; i++) await sleep(100)
          process.kill(-child.pid!, 'SIGKILL')
        })()
      }
    })
    expect(main.signal).toBe('SIGKILL')
    const workDir = path.join(main.runnerTemp, 'agent-fanout', `issue-${ISSUE}`)
    leftovers.push(workDir)
    // Both worktrees and the shared base are still mounted: nobody was left to unmount them.
    expect((await mountsUnder(workDir)).length).toBe(3)
    for (const pid of livingProcesses(`sleep ${SLEEP}`)) process.kill(pid, 'SIGKILL')
    const post = await act(w, agent, { post: { state: main.state }, runnerTemp: main.runnerTemp })
    expect(post.exitCode).toBe(0)
    expect(await mountsUnder(workDir)).toEqual([])
    expect(post.stdout).toContain('Removed the worktrees an interrupted run left')
  })

  it(`a killed CLI leaves its mounts to the next run, which undoes them and runs${unavailable}`, async () => {
    if (unavailable) return
    const origin = await createOrigin({ 'README.md': '# x\n' })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const env = isolatedGitEnv(origin.home)
    const scratch = await tempDir('overlay-cli-scratch')
    const workDir = path.join(await tempDir('overlay-cli-work'), 'work')
    leftovers.push(workDir)
    const issueFile = path.join(scratch, 'tasks.md')
    await writeFile(issueFile, '# Overlay\n\n- [ ] One\n- [ ] Two\n')
    const args = (agent: string): string[] => [
      CLI,
      'run',
      '--issue-file',
      issueFile,
      '--agent',
      agent,
      '--repo',
      repo,
      '--work-dir',
      workDir,
      '--worktree-mode',
      'overlay',
      '--verbose'
    ]
    const child = spawn(nodeBinary(), args(`touch "$SCRATCH/$TASK_ID.started"; sleep ${SLEEP}`), {
      cwd: repo,
      env: { ...env, SCRATCH: scratch },
      stdio: 'ignore'
    })
    for (let i = 0; i < 300 && (await startedIn(scratch)).length < 2; i++) await sleep(100)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    expect((await mountsUnder(workDir)).length).toBe(3)
    for (const pid of livingProcesses(`sleep ${SLEEP}`)) process.kill(pid, 'SIGKILL')

    const next = await run(nodeBinary(), args('echo "$TASK_TITLE" > "$TASK_ID.txt"'), {
      cwd: repo,
      env: { ...env, SCRATCH: scratch }
    })
    expect(next.stdout + next.stderr).toMatch(/overlay worktrees/)
    expect(next.stdout).toMatch(/2 merged/)
    expect(await mountsUnder(workDir)).toEqual([])
  })
})

describe('setup-command through the action, run mode', () => {
  it.each(['overlay', 'checkout'] as const)(
    `%s worktrees: a set-up that fails fails the run before any agent, with its log tail on the issue; one that works is seen by every agent and merged by none${unavailable}`,
    async (mode) => {
      if (mode === 'overlay' && unavailable) return
      const w: World = await world('- [ ] one\n- [ ] two\n')
      const agent = 'touch "$SCRATCH/$TASK_ID.started"; cat deps/ready > "$TASK_ID.seen"'
      const failing = await act(w, agent, {
        inputs: {
          'worktree-mode': mode,
          'setup-command':
            'echo "fetching deps"; echo "registry unreachable: E_SETUP_42" >&2; exit 7'
        }
      })
      expect(failing.exitCode).toBe(1)
      expect(await readdir(w.scratch)).toEqual([])
      const comment = statusComments(w)[0].body
      expect(comment).toMatch(/\| T1 \| one \|[^\n]*failed/)
      expect(comment).toContain('registry unreachable: E_SETUP_42')
      expect(comment).toMatch(/set-up|setup-command/)
      // No task branch: no agent ran (the integration branch, if pushed, is the base itself).
      expect((await originBranches(w)).filter((b) => /\/T\d+$/.test(b))).toEqual([])

      const working = await act(w, agent, {
        inputs: {
          'worktree-mode': mode,
          'setup-command': 'mkdir -p deps && echo ready > deps/ready && echo built > built.txt'
        }
      })
      expect(working.exitCode).toBe(0)
      expect(statuses(working)).toEqual([
        ['T1', 'merged'],
        ['T2', 'merged']
      ])
      expect(working.stdout).toContain(`Worktrees: ${mode} worktrees (worktree-mode: ${mode}`)
      for (const id of ['T1', 'T2'])
        expect(await showOnOrigin(w, INTEGRATION, `${id}.seen`)).toBe('ready')
      const files = await git(
        w.origin.bareDir,
        ['ls-tree', '-r', '--name-only', INTEGRATION],
        w.env
      )
      expect(files.split('\n').sort()).toEqual(['README.md', 'T1.seen', 'T2.seen', 'src/a.txt'])
    },
    180_000
  )
})
