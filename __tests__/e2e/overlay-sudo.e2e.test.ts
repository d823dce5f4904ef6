// Overlay worktrees as GitHub-hosted Linux runners have them: the runner user is not root and
// mounts through passwordless `sudo -n`. As root, this test makes throwaway users (one with a
// NOPASSWD sudoers drop-in, one whose sudo asks for a password) and runs the bundled CLI
// (dist/cli/index.js; rebuild it with `npm run package`) as each of them through runuser.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import {
  appendFile,
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile
} from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { mountAbility, Mounter, mountsUnder, unmountAllUnder } from '../../src/core/git/overlay.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  removeTempDirs,
  TEST_AUTHOR_EMAIL,
  TEST_AUTHOR_NAME,
  tempDir
} from '../../test-support/git-fixtures.js'
import { livingProcesses } from '../../test-support/processes.js'
import { nodeBinary, REPO_ROOT, type RunActionOptions } from '../../test-support/run-action.js'
import { act, statuses, useCleanup, world, type World } from '../adversarial/support.js'

// A real runner knows nothing of the suite's forced worktree-mode (npm test runs the worktree
// suites again with AGENT_FANOUT_WORKTREE_MODE=checkout): `auto` must mean auto here.
const REAL_RUNNER = { AGENT_FANOUT_WORKTREE_MODE: '' }
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
// Told apart from any other run's sleeps (see cli-interrupts.e2e.test.ts).
const SLEEP = 900 + Math.floor(Math.random() * 2000)

function onPath(tool: string): boolean {
  return PATH.split(':').some((dir) => existsSync(path.join(dir, tool)))
}

/** Why this file cannot run here ('' when it can), for the tests' names. */
async function whyUnavailable(): Promise<string> {
  if (process.getuid?.() !== 0) return ' (skipped: needs root to add users)'
  const missing = ['sudo', 'useradd', 'userdel', 'runuser'].filter((tool) => !onPath(tool))
  if (missing.length > 0) return ` (skipped: ${missing.join(', ')} not installed)`
  const ability = await mountAbility(await tempDir('sudo-e2e-probe'))
  return ability.via ? '' : ` (skipped: ${ability.reason})`
}
const unavailable = await whyUnavailable()

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command as root; never rejects. */
function run(file: string, args: string[], cwd = '/'): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, encoding: 'utf8', env: { PATH } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
      resolve({ code, stdout, stderr: stderr || (error && code === -1 ? error.message : '') })
    })
  })
}

async function must(file: string, args: string[]): Promise<string> {
  let result = await run(file, args)
  // useradd and userdel lock /etc/passwd: another test adding a user meanwhile is waited for.
  for (let i = 0; i < 20 && result.code !== 0 && /lock/i.test(result.stderr); i++) {
    await sleep(250)
    result = await run(file, args)
  }
  if (result.code !== 0)
    throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stderr}`)
  return result.stdout
}

/** A throwaway user, its home (which holds everything of its runs) and how it runs things. */
interface User {
  name: string
  home: string
  sudoers?: string
  /** The node binary and the CLI bundle, as this user can run them. */
  node: string
  cli: string
  env: NodeJS.ProcessEnv
}

const users: User[] = []

/** argv that runs `file args` as the user (runuser: a plain login-less switch, as root can). */
function asArgv(user: User, file: string, args: string[]): [string, string[]] {
  return ['runuser', ['-u', user.name, '--', file, ...args]]
}

function runAs(user: User, file: string, args: string[], cwd = user.home): Promise<Ran> {
  const [command, argv] = asArgv(user, file, args)
  return new Promise((resolve) => {
    execFile(
      command,
      argv,
      { cwd, encoding: 'utf8', env: user.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
        resolve({ code, stdout, stderr })
      }
    )
  })
}

/**
 * A user with a home under a fresh temp dir; `sudo: true` gives it a NOPASSWD sudoers drop-in
 * (checked by visudo where there is one). The node binary and the bundle are used where they
 * are when the user can run them, else from copies in its home.
 */
async function addUser(sudo: boolean): Promise<User> {
  const name = `af${sudo ? 's' : 'n'}${randomBytes(4).toString('hex')}`
  const parent = await tempDir('sudo-e2e-home')
  await chmod(parent, 0o755)
  const home = path.join(parent, name)
  const user: User = { name, home, node: nodeBinary(), cli: '', env: {} }
  users.push(user)
  await must('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/bash', name])
  if (sudo) {
    user.sudoers = `/etc/sudoers.d/${name}`
    await writeFile(user.sudoers, `${name} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 })
    await chmod(user.sudoers, 0o440)
    if (onPath('visudo')) await must('visudo', ['-cf', user.sudoers])
  }
  user.env = {
    PATH,
    LANG: 'C',
    LC_ALL: 'C',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: TEST_AUTHOR_NAME,
    GIT_AUTHOR_EMAIL: TEST_AUTHOR_EMAIL,
    GIT_COMMITTER_NAME: TEST_AUTHOR_NAME,
    GIT_COMMITTER_EMAIL: TEST_AUTHOR_EMAIL
  }
  user.cli = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
  const reachable = async (): Promise<boolean> =>
    (await runAs(user, 'test', ['-x', user.node])).code === 0 &&
    (await runAs(user, 'test', ['-r', user.cli])).code === 0
  if (!(await reachable())) {
    const bin = path.join(home, 'bin')
    await mkdir(bin, { recursive: true })
    await copyFile(user.node, path.join(bin, 'node'))
    await must('cp', ['-r', path.join(REPO_ROOT, 'dist'), path.join(bin, 'dist')])
    await must('chown', ['-R', `${name}:`, bin])
    user.node = path.join(bin, 'node')
    user.cli = path.join(bin, 'dist', 'cli', 'index.js')
    if (!(await reachable())) throw new Error(`${name} cannot run ${user.node} ${user.cli}`)
  }
  return user
}

async function removeUser(user: User): Promise<void> {
  // Nothing may stay mounted in a home that is about to be deleted.
  await unmountAllUnder(new Mounter('root'), user.home).catch(() => undefined)
  await must('userdel', ['--remove', '--force', user.name]).catch(() => undefined)
  if (user.sudoers) await rm(user.sudoers, { force: true })
  await rm(user.home, { recursive: true, force: true })
}

/**
 * The repository of a workflow's checkout, owned by the user: a clone of an origin in its home
 * (the origin too), with a base directory to rename and a base file to delete.
 */
async function userRepo(user: User): Promise<string> {
  const origin = await createOrigin({
    'README.md': '# sudo\n',
    'gone.txt': 'deleted by a task\n',
    'lib/deep/a.txt': 'in a directory a task renames\n',
    'lib/deep/b.txt': 'b\n'
  })
  const originCopy = path.join(user.home, 'origin.git')
  await must('cp', ['-a', origin.bareDir, originCopy])
  const repo = await cloneWorkspace(origin, { depth: 0, dir: path.join(user.home, 'repo') })
  await git(repo, ['remote', 'set-url', 'origin', originCopy])
  await must('chown', ['-R', `${user.name}:`, originCopy, repo])
  return repo
}

// Each task records who owns what it made in its worktree, renames a directory of the base
// (One) or deletes a file of the base (Two), and tries to write the shared base ($BASE).
const AGENT = `set -e
printf '%s\\n' "$TASK_TITLE" > "$TASK_ID.txt"
mkdir "made-by-$TASK_ID" && echo made > "made-by-$TASK_ID/inner.txt"
stat -c '%U %n' "$TASK_ID.txt" "made-by-$TASK_ID" "made-by-$TASK_ID/inner.txt" > "$SCRATCH/owners-$TASK_ID"
case "$TASK_TITLE" in
  One) mv lib/deep lib/moved ;;
  Two) rm gone.txt ;;
esac
if touch "$BASE/written-by-$TASK_ID" 2>/dev/null; then r=writable; else r=read-only; fi
echo "$r" > "$SCRATCH/base-$TASK_ID"
`

interface Setup {
  repo: string
  workDir: string
  scratch: string
  issueFile: string
  agent: string
}

async function setUp(user: User, label: string): Promise<Setup> {
  const repo = existsSync(path.join(user.home, 'repo'))
    ? path.join(user.home, 'repo')
    : await userRepo(user)
  const dir = path.join(user.home, label)
  const scratch = path.join(dir, 'scratch')
  await mkdir(scratch, { recursive: true })
  const issueFile = path.join(dir, 'tasks.md')
  await writeFile(issueFile, '# Sudo overlays\n\n- [ ] One\n- [ ] Two\n')
  const agent = path.join(dir, 'agent.sh')
  await writeFile(agent, AGENT)
  await must('chown', ['-R', `${user.name}:`, dir])
  return { repo, workDir: path.join(dir, 'work'), scratch, issueFile, agent }
}

function cliArgs(user: User, s: Setup, agent: string, mode: string, issueNumber: number): string[] {
  return [
    user.cli,
    'run',
    '--issue-file',
    s.issueFile,
    '--agent',
    agent,
    '--repo',
    s.repo,
    '--work-dir',
    s.workDir,
    '--issue-number',
    String(issueNumber),
    '--worktree-mode',
    mode,
    '--verbose'
  ]
}

function runCli(user: User, s: Setup, mode: string, issueNumber: number): Promise<Ran> {
  const env = { ...user.env, SCRATCH: s.scratch, BASE: path.join(s.workDir, 'overlay', 'base') }
  return runAs(
    { ...user, env },
    user.node,
    cliArgs(user, s, `bash ${s.agent}`, mode, issueNumber),
    s.repo
  )
}

async function tree(user: User, repo: string, ref: string): Promise<string[]> {
  const listed = await runAs(user, 'git', ['ls-tree', '-r', '--name-only', ref], repo)
  if (listed.code !== 0) throw new Error(`git ls-tree ${ref}: ${listed.stderr}`)
  return listed.stdout.split('\n').filter(Boolean)
}

/** Entries under `dir` not owned by the user (`find ! -user`), as root sees them. */
async function notOwnedBy(user: User, dir: string): Promise<string[]> {
  const found = await must('find', [dir, '!', '-user', user.name])
  return found.split('\n').filter(Boolean)
}

/** The agents' files on the integration branch, the base's rename and deletion in it too. */
async function expectMerged(user: User, s: Setup, out: Ran, issueNumber: number): Promise<void> {
  expect(out.stdout).toContain('agent-fanout: 2 merged')
  const files = await tree(user, s.repo, `fanout/issue-${issueNumber}/integration`)
  expect(files).toEqual(
    expect.arrayContaining([
      'T1.txt',
      'T2.txt',
      'made-by-T1/inner.txt',
      'made-by-T2/inner.txt',
      'lib/moved/a.txt',
      'lib/moved/b.txt'
    ])
  )
  expect(files).not.toContain('gone.txt')
  expect(files.filter((f) => f.startsWith('lib/deep/'))).toEqual([])
  for (const id of ['T1', 'T2'])
    expect(await readFile(path.join(s.scratch, `owners-${id}`), 'utf8')).toBe(
      [`${id}.txt`, `made-by-${id}`, `made-by-${id}/inner.txt`]
        .map((f) => `${user.name} ${f}\n`)
        .join('')
    )
}

/** What a user checks after a run: no mount left, nothing it cannot delete, and it deletes it. */
async function expectLeftClean(user: User, workDir: string): Promise<void> {
  expect(await mountsUnder(path.dirname(workDir))).toEqual([])
  expect(await notOwnedBy(user, workDir)).toEqual([])
  expect((await runAs(user, 'rm', ['-rf', '--', workDir])).code).toBe(0)
  expect(existsSync(workDir)).toBe(false)
}

afterAll(async () => {
  for (const pid of livingProcesses(`sleep ${SLEEP}`)) process.kill(pid, 'SIGKILL')
  for (const user of users.splice(0)) await removeUser(user)
  await removeTempDirs()
})
// The stand-in GitHub servers stopped after each test; its afterAll (temp dirs) runs after ours.
useCleanup()

let sudoer: User | undefined
const withSudo = async (): Promise<User> => (sudoer ??= await addUser(true))

describe('overlay worktrees through passwordless sudo (a non-root runner user)', () => {
  it(`auto mounts through sudo -n: all merged, the agents' files theirs, nothing left behind${unavailable}`, async () => {
    if (unavailable) return
    const user = await withSudo()
    const s = await setUp(user, 'auto')
    const out = await runCli(user, s, 'auto', 1)
    expect(out.code).toBe(0)
    expect(out.stderr).toContain(
      'Worktrees: overlay worktrees (worktree-mode: auto; passwordless sudo works)'
    )
    await expectMerged(user, s, out, 1)
    // The shared base is the read-only bind mount, although the user owns its files.
    for (const id of ['T1', 'T2'])
      expect(await readFile(path.join(s.scratch, `base-${id}`), 'utf8')).toBe('read-only\n')
    await expectLeftClean(user, s.workDir)
  })

  /** A run as the user whose agents sleep, killed outright once both have started. */
  async function killedRun(user: User, s: Setup, issueNumber: number): Promise<void> {
    const agent = `touch "$SCRATCH/$TASK_ID.started"; exec sleep ${SLEEP}`
    const [command, argv] = asArgv(user, user.node, cliArgs(user, s, agent, 'auto', issueNumber))
    const child = spawn(command, argv, {
      cwd: s.repo,
      env: { ...user.env, SCRATCH: s.scratch },
      stdio: 'ignore',
      detached: true
    })
    const started = async (): Promise<number> =>
      (await readdir(s.scratch)).filter((f) => f.endsWith('.started')).length
    for (let i = 0; i < 300 && (await started()) < 2; i++) await sleep(100)
    // runuser and the CLI under it: the agents run in process groups of their own.
    process.kill(-child.pid!, 'SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    for (const pid of livingProcesses(`sleep ${SLEEP}`)) process.kill(pid, 'SIGKILL')
    // Both worktrees and the shared base are still mounted: nobody was left to unmount them.
    expect((await mountsUnder(s.workDir)).length).toBe(3)
  }

  it(`a killed run's sudo mounts are undone by the user's next run${unavailable}`, async () => {
    if (unavailable) return
    const user = await withSudo()
    const s = await setUp(user, 'killed')
    await killedRun(user, s, 2)
    const out = await runCli(user, s, 'auto', 2)
    expect(out.code).toBe(0)
    expect(out.stderr).toContain('overlay worktrees (worktree-mode: auto; passwordless sudo')
    await expectMerged(user, s, out, 2)
    await expectLeftClean(user, s.workDir)
  })

  it(`a killed run's sudo mounts are undone by the user's agent-fanout clean${unavailable}`, async () => {
    if (unavailable) return
    const user = await withSudo()
    const s = await setUp(user, 'cleaned')
    await killedRun(user, s, 3)
    const out = await runAs(
      user,
      user.node,
      [user.cli, 'clean', '--repo', s.repo, '--issue-number', '3', '--work-dir', s.workDir],
      s.repo
    )
    expect(out.stderr).toBe('')
    expect(out.code).toBe(0)
    expect(out.stdout).toContain(`removed the work dir ${s.workDir}`)
    expect(await mountsUnder(s.workDir)).toEqual([])
    expect(existsSync(s.workDir)).toBe(false)
  })
})

describe('overlay worktrees for a non-root user without passwordless sudo', () => {
  let user: User | undefined
  const withoutSudo = async (): Promise<User> => (user ??= await addUser(false))

  it(`auto falls back to checkout worktrees and says why${unavailable}`, async () => {
    if (unavailable) return
    const u = await withoutSudo()
    const s = await setUp(u, 'auto')
    const out = await runCli(u, s, 'auto', 1)
    expect(out.code).toBe(0)
    expect(out.stderr).toContain(
      'Worktrees: checkout worktrees (worktree-mode: auto; no overlay: not root, and sudo asks for a password'
    )
    await expectMerged(u, s, out, 1)
    await expectLeftClean(u, s.workDir)
  })

  it(`auto without any sudo falls back to checkout worktrees and says so${unavailable}`, async () => {
    if (unavailable) return
    const u = await withoutSudo()
    const s = await setUp(u, 'no-sudo')
    // PATH without sudo: /usr/bin's tools but that one, through symlinks.
    const bin = path.join(u.home, 'no-sudo-bin')
    await mkdir(bin)
    for (const tool of await readdir('/usr/bin'))
      if (!tool.startsWith('sudo')) await symlink(path.join('/usr/bin', tool), path.join(bin, tool))
    const out = await runCli({ ...u, env: { ...u.env, PATH: `${bin}:/usr/sbin` } }, s, 'auto', 3)
    expect(out.code).toBe(0)
    expect(out.stderr).toContain(
      'Worktrees: checkout worktrees (worktree-mode: auto; no overlay: not root, and there is no sudo here)'
    )
    expect(out.stdout).toContain('agent-fanout: 2 merged')
  })

  it(`worktree-mode overlay fails with a clear error before any agent starts${unavailable}`, async () => {
    if (unavailable) return
    const u = await withoutSudo()
    const s = await setUp(u, 'overlay')
    const out = await runCli(u, s, 'overlay', 2)
    expect(out.code).not.toBe(0)
    expect(out.stderr).toContain(
      'worktree-mode: overlay is not possible here: not root, and sudo asks for a password'
    )
    expect(await readdir(s.scratch)).toEqual([])
    const branch = await runAs(u, 'git', ['branch', '--list', 'fanout/issue-2/*'], s.repo)
    expect(branch.stdout).toBe('')
    expect(await mountsUnder(path.dirname(s.workDir))).toEqual([])
  })
})

describe('the action as a non-root runner user with passwordless sudo', () => {
  /**
   * A labelled issue's world, set up as a GitHub-hosted runner has it: the workspace is the
   * runner user's; the stand-in origin (GitHub's side) stays root's, writable by the user and
   * trusted by its git. The action runs as the user: the harness makes the runner's files as
   * root, so `wrap` hands them to the user before dropping to it.
   */
  async function runnerWorld(user: User, label: string) {
    const w = await world('- [ ] one\n- [ ] two\n')
    await must('chmod', ['-R', 'a+rwX', w.origin.bareDir])
    await chmod(path.dirname(w.origin.bareDir), 0o755)
    await appendFile(
      path.join(user.home, '.gitconfig'),
      `[safe]\n\tdirectory = ${w.origin.bareDir}\n`
    )
    await chmod(path.dirname(w.workspace), 0o755)
    const runnerTemp = path.join(user.home, `runner-temp-${label}`)
    await mkdir(runnerTemp)
    await must('chown', ['-R', `${user.name}:`, w.workspace, w.scratch, runnerTemp])
    await must('chown', [`${user.name}:`, path.join(user.home, '.gitconfig')])
    const entry = path.join(path.dirname(user.cli), '..', 'index.js')
    const wrap: RunActionOptions['wrap'] = () => [
      'bash',
      [
        '-c',
        'chown "$1:" "$2" && chown -R "$1:" "$2"/_runner_file_commands "$2"/_github_workflow "$2"/_tool_cache && exec runuser -u "$1" -- "$3" "$4"',
        'wrap',
        user.name,
        runnerTemp,
        user.node,
        entry
      ]
    ]
    return { w, runnerTemp, wrap }
  }

  it(`the main step mounts through sudo -n and merges; the post step leaves nothing behind${unavailable}`, async () => {
    if (unavailable) return
    const user = await withSudo()
    const { w, runnerTemp, wrap } = await runnerWorld(user, 'main')
    const agent = 'echo "$TASK_TITLE" > "$TASK_ID.txt"'
    const inputs = { 'worktree-mode': 'auto' }
    const main = await act(w, agent, { inputs, env: REAL_RUNNER, runnerTemp, wrap })
    expect(main.stdout).toContain(
      'Worktrees: overlay worktrees (worktree-mode: auto; passwordless sudo works)'
    )
    expect(main.exitCode).toBe(0)
    expect(statuses(main)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    const post = await act(w, agent, {
      inputs,
      env: REAL_RUNNER,
      runnerTemp,
      wrap,
      post: { state: main.state }
    })
    expect(post.exitCode).toBe(0)
    expect(await mountsUnder(runnerTemp)).toEqual([])
    expect(await notOwnedBy(user, runnerTemp)).toEqual([])
  })

  it(`a main step killed outright leaves its sudo mounts to the post step, which undoes them${unavailable}`, async () => {
    if (unavailable) return
    const user = await withSudo()
    const { w, runnerTemp, wrap } = await runnerWorld(user, 'killed')
    const agent = `touch "$SCRATCH/$TASK_ID.started"; exec sleep ${SLEEP}`
    const inputs = { 'worktree-mode': 'auto' }
    const main = await act(w, agent, {
      inputs,
      env: REAL_RUNNER,
      runnerTemp,
      wrap,
      onSpawn: (child) => {
        void (async () => {
          for (let i = 0; i < 300 && (await started(w)) < 2; i++) await sleep(100)
          process.kill(-child.pid!, 'SIGKILL')
        })()
      }
    })
    expect(main.signal).toBe('SIGKILL')
    for (const pid of livingProcesses(`sleep ${SLEEP}`)) process.kill(pid, 'SIGKILL')
    expect((await mountsUnder(runnerTemp)).length).toBe(3)
    const post = await act(w, agent, {
      inputs,
      env: REAL_RUNNER,
      runnerTemp,
      wrap,
      post: { state: main.state }
    })
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain('Removed the worktrees an interrupted run left')
    expect(await mountsUnder(runnerTemp)).toEqual([])
    expect(await notOwnedBy(user, runnerTemp)).toEqual([])
  })
})

async function started(w: World): Promise<number> {
  return (await readdir(w.scratch)).filter((f) => f.endsWith('.started')).length
}
