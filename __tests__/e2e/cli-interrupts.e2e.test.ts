// Issue 13, "pipes close, signals arrive": the bundled CLI (dist/cli/index.js) handles SIGINT,
// SIGTERM and a closed stdout as the action handles a cancel: every agent's process tree ends,
// the worktrees are removed, what finished is reported (where there is still someone to read
// it), and the exit status says why (130, 143; non-zero for the closed pipe).
// Since issue 14 stdout holds only the result (the report, or --json's JSON); progress and logs
// go to stderr. `| head -1` therefore reads the report's first line once the run is over.
import { afterAll, describe, expect, it } from '@jest/globals'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import { livingProcesses, processesWithArgv } from '../../test-support/processes.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'

afterAll(removeTempDirs)
// The agents' sleeps are told apart by their length: unique to this run of the suite, so that
// what another run left behind can never be taken for (or hide) this run's processes.
const SLEEP = 700 + Math.floor(Math.random() * 2000)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')

/** A line of a JavaScript stack trace (`    at fn (file:1:2)`). */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

/**
 * T1 finishes at once; the others start a child in their group and a grandchild in a session of
 * its own (both `sleep <seconds>`), say they started, and sleep too, printing a line every 0.2 s
 * when `chatty`.
 */
function agentScript(seconds: number, chatty = false): string {
  return [
    'if [ "$TASK_ID" = T1 ]; then echo done > T1.txt; exit 0; fi',
    `sleep ${seconds} &`,
    `(setsid sleep ${seconds} >/dev/null 2>&1 &)`,
    'touch "$SCRATCH/$TASK_ID.started"',
    chatty ? `while :; do echo "$TASK_ID still working"; sleep 0.2; done` : `sleep ${seconds}`
  ].join('\n')
}

interface Cli {
  child: ChildProcess
  out: () => string
  err: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  repo: string
  env: NodeJS.ProcessEnv
  workDir: string
  scratch: string
}

/**
 * Starts the CLI on a fresh repository. With `reader`, its stdout goes through a real pipe to
 * that shell command (`head -1`, say), as in `agent-fanout run … | head -1`; the exit status is
 * then still the CLI's.
 */
async function startCli(
  agent: string,
  opts: { args?: string[]; reader?: string; path?: string } = {}
): Promise<Cli> {
  const origin = await createOrigin({ 'README.md': '# x\n' })
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('interrupt-scratch')
  const workDir = path.join(await tempDir('interrupt-work'), 'work')
  const issueFile = path.join(await tempDir('interrupt-issue'), 'tasks.md')
  await writeFile(issueFile, '# Interrupted\n\n- [ ] Quick\n- [ ] Slow two\n- [ ] Slow three\n')
  const args = [CLI, 'run', '--issue-file', issueFile, '--agent', agent, '--repo', repo]
  args.push('--work-dir', workDir, ...(opts.args ?? []))
  const [file, ...argv] = opts.reader
    ? [
        'bash',
        '-c',
        `"$@" | ${opts.reader}; exit "\${PIPESTATUS[0]}"`,
        'cli',
        nodeBinary(),
        ...args
      ]
    : [nodeBinary(), ...args]
  const child = spawn(file, argv, {
    env: { ...env, SCRATCH: scratch, ...(opts.path ? { PATH: opts.path } : {}) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (c: Buffer) => out.push(c))
  child.stderr!.on('data', (c: Buffer) => err.push(c))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  )
  return {
    child,
    out: () => Buffer.concat(out).toString('utf8'),
    err: () => Buffer.concat(err).toString('utf8'),
    exited,
    repo,
    env,
    workDir,
    scratch
  }
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** Waits for the exit, at most `ms`: the CLI must end within seconds of being interrupted. */
async function exitWithin(cli: Cli, ms = 20_000) {
  const timer = sleep(ms).then(() => undefined)
  const exit = await Promise.race([cli.exited, timer])
  if (!exit) {
    cli.child.kill('SIGKILL')
    throw new Error(`the CLI did not exit within ${ms} ms of being interrupted`)
  }
  return exit
}

/** T1's work is committed (its branch moved off the base): it finished before the interruption. */
async function quickTaskCommitted(cli: Cli): Promise<void> {
  const base = await git(cli.repo, ['rev-parse', 'HEAD'], cli.env)
  const tip = () =>
    git(cli.repo, ['rev-parse', '-q', '--verify', 'refs/heads/fanout/issue-1/T1'], cli.env).catch(
      () => base
    )
  const deadline = Date.now() + 30_000
  while ((await tip()) === base) {
    if (Date.now() > deadline) throw new Error('timed out waiting for T1 to be committed')
    await sleep(100)
  }
}

/** The reader of `| …`: reads nothing (the run writes only its report there) and leaves once both slow agents run. */
const HEAD_ONCE_STARTED =
  '{ until [ -e "$SCRATCH/T2.started" ] && [ -e "$SCRATCH/T3.started" ]; do sleep 0.1; done; }'

async function startedSlowAgents(cli: Cli): Promise<void> {
  await until(
    'the slow agents to start',
    () => ['T2', 'T3'].every((id) => existsSync(path.join(cli.scratch, `${id}.started`))),
    60_000
  )
}

/** Every agent's processes are gone (a moment is allowed for the last SIGKILL to land). */
async function expectNoSleeps(seconds: number): Promise<void> {
  try {
    await until(
      'the agents to be gone',
      () => processesWithArgv(['sleep', `${seconds}`]).length === 0,
      3000
    )
  } catch {
    // reported by the expectation below
  }
  const left = processesWithArgv(['sleep', `${seconds}`])
  for (const pid of left) process.kill(pid, 'SIGKILL')
  expect(left).toEqual([])
}

/** The tail that watched stdout went with the CLI. */
function expectNoWatcher(): void {
  expect(livingProcesses('tail -f /dev/null --pid=')).toEqual([])
}

async function expectWorktreesGone(cli: Cli): Promise<void> {
  const list = await git(cli.repo, ['worktree', 'list', '--porcelain'], cli.env)
  expect(list.split('\n').filter((l) => l.startsWith('worktree '))).toEqual([
    `worktree ${cli.repo}`
  ])
  expect(existsSync(path.join(cli.workDir, 'worktrees'))).toBe(false)
}

describe('the CLI interrupted', () => {
  it('`| head -1` reads the headline of the report once the run is over, with nothing left behind', async () => {
    const cli = await startCli('echo done > "$TASK_ID.txt"', { reader: 'head -1' })
    const exit = await exitWithin(cli, 60_000)
    // 0 when the whole report fit in the pipe before head left, 141 when a write found it gone.
    expect([0, 141]).toContain(exit.code)
    expect(cli.out()).toBe('agent-fanout: 3 merged\n')
    expect(cli.err()).not.toMatch(/EPIPE/)
    expect(cli.err()).not.toMatch(STACK_FRAME)
    expectNoWatcher()
    await expectWorktreesGone(cli)
  })

  it('SIGINT mid-run: the agents and their children end within seconds, the worktrees go, what finished is reported, exit 130', async () => {
    const cli = await startCli(agentScript(SLEEP + 0))
    await startedSlowAgents(cli)
    await quickTaskCommitted(cli)
    cli.child.kill('SIGINT')
    const exit = await exitWithin(cli)
    expect(exit).toEqual({ code: 130, signal: null })
    expect(cli.err()).not.toMatch(STACK_FRAME)
    expect(cli.err()).toContain('received SIGINT')
    expect(cli.out().split('\n')[0]).toBe('agent-fanout: cancelled (SIGINT) — 1 merged, 2 failed')
    expect(cli.out()).toMatch(/^ {2}T1 +✓ merged .* Quick$/m)
    expect(cli.out()).toMatch(/^T2 failed: Slow two\n {2}Why: cancelled/m)
    expect(await git(cli.repo, ['show', 'fanout/issue-1/integration:T1.txt'], cli.env)).toBe('done')
    await expectNoSleeps(SLEEP + 0)
    await expectWorktreesGone(cli)
  })

  it('SIGTERM mid-run with --json: the JSON of what finished, exit 143, nothing left running', async () => {
    const cli = await startCli(agentScript(SLEEP + 1), { args: ['--json'] })
    await startedSlowAgents(cli)
    await quickTaskCommitted(cli)
    cli.child.kill('SIGTERM')
    const exit = await exitWithin(cli)
    expect(exit).toEqual({ code: 143, signal: null })
    expect(cli.err()).not.toMatch(STACK_FRAME)
    const json = JSON.parse(cli.out()) as {
      cancelled: string
      tasks: { id: string; status: string; reason?: string }[]
    }
    expect(json.cancelled).toBe('SIGTERM')
    expect(json.tasks.map((t) => [t.id, t.status, t.reason ?? ''])).toEqual([
      ['T1', 'merged', ''],
      ['T2', 'failed', 'cancelled'],
      ['T3', 'failed', 'cancelled']
    ])
    await expectNoSleeps(SLEEP + 1)
    await expectWorktreesGone(cli)
  })

  it('stdout closed by its reader (`| head -1`): the run ends the same way, without EPIPE or a stack trace, non-zero exit', async () => {
    // The reader goes away once the agents run; they print nothing, so no write notices.
    const cli = await startCli(agentScript(SLEEP + 2), { reader: HEAD_ONCE_STARTED })
    await startedSlowAgents(cli)
    const exit = await exitWithin(cli)
    expect(exit.code).toBe(141)
    expect(cli.err()).not.toMatch(/EPIPE/)
    expect(cli.err()).not.toMatch(STACK_FRAME)
    expect(cli.err()).toContain(
      'agent-fanout: nobody reads the output any more: ending all agents and removing the worktrees\n'
    )
    await expectNoSleeps(SLEEP + 2)
    expectNoWatcher()
    await expectWorktreesGone(cli)
  })

  it("stdout closed where no GNU tail watches it: the report's write notices (EPIPE) once the agents end, no stack trace, exit 141", async () => {
    // A PATH with every tool but tail.
    const bin = await tempDir('no-tail-bin')
    for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
      const names = await readdir(dir).catch(() => [] as string[])
      for (const name of names)
        if (name !== 'tail' && !existsSync(path.join(bin, name)))
          await symlink(path.join(dir, name), path.join(bin, name)).catch(() => undefined)
    }
    // Nothing is written to stdout before the report: the agents end at their time limit.
    const cli = await startCli(agentScript(SLEEP + 3, true), {
      reader: HEAD_ONCE_STARTED,
      path: bin,
      args: ['--task-timeout-minutes', '0.1']
    })
    await startedSlowAgents(cli)
    const exit = await exitWithin(cli, 40_000)
    expect(exit.code).toBe(141)
    expect(cli.err()).not.toMatch(/EPIPE/)
    expect(cli.err()).not.toMatch(STACK_FRAME)
    await expectNoSleeps(SLEEP + 3)
    expectNoWatcher()
    await expectWorktreesGone(cli)
  })
})
