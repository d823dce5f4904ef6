// Issue 13, "Disks fill": an agent fills the disk, or its output fills it through the log. The
// repository and the work directory share a small tmpfs, as a runner's disk holds both. The task
// that hits the full disk fails with a reason that says so; the others are judged and reported;
// the worktrees are removed; the bundled action posts its status comment and the CLI prints its
// report; and nothing dies of an uncaught exception.
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { cloneWorkspace, git, tempDir } from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import { mountTmpfs, tmpfsUnavailable, type Tmpfs } from '../../test-support/tmpfs.js'
import {
  INTEGRATION,
  act,
  showOnOrigin,
  statusComments,
  statuses,
  tasksOutput,
  useCleanup,
  world,
  type World
} from './support.js'

useCleanup()
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
const execFileAsync = promisify(execFile)

const unavailable = await tmpfsUnavailable()
const describeTmpfs = unavailable ? describe.skip : describe
const skipNote = unavailable ? ` (skipped: ${unavailable})` : ''

/** A line of a JavaScript stack trace (`    at fn (file:1:2)`). */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m

const TASKS =
  '- [ ] Fill the disk\n- [ ] Small change two\n- [ ] Small change three\n- [ ] Small change four\n'

/**
 * The healthy agents' part: wait (at most half a minute) until `ready` holds, then make a small change.
 * Waiting makes the order certain: they write once the task that filled the disk is over.
 */
const healthy = (ready: string): string =>
  [
    'touch "$SCRATCH/$TASK_ID.started"',
    'for i in $(seq 300); do',
    `  if ${ready}; then break; fi`,
    '  sleep 0.1',
    'done',
    'echo "$TASK_ID" > "$TASK_ID.txt"'
  ].join('\n')

/**
 * T1 waits (at most half a minute) until the others run, so that the disk fills after their
 * worktrees are checked out: a checkout that meets the full disk would fail its task, rightly.
 */
const OTHERS_STARTED = [
  'for i in $(seq 300); do',
  '  [ -e "$SCRATCH/T2.started" ] && [ -e "$SCRATCH/T3.started" ] && [ -e "$SCRATCH/T4.started" ] && break',
  '  sleep 0.1',
  'done'
].join('\n')

/** Free KiB on the filesystem of the current directory, for the agents' scripts. */
const FREE_KIB = `$(df -Pk . | awk 'NR==2 {print $4}')`

/** Agents for "an agent fills the disk": T1 writes zeros until ENOSPC, then exits `status`. */
function fillerAgent(status: number): string {
  return [
    'if [ "$TASK_ID" = T1 ]; then',
    OTHERS_STARTED,
    // dd's complaint goes elsewhere: on the full disk, the log could not take it.
    '  dd if=/dev/zero of=zeros.bin bs=1M 2>"$SCRATCH/dd.err"',
    '  touch "$SCRATCH/filled"',
    `  exit ${status}`,
    'fi',
    // Room comes back once the filling task is over: it needs its files no more.
    healthy(`[ -e "$SCRATCH/filled" ] && [ ${FREE_KIB} -gt 4096 ]`)
  ].join('\n')
}

/** Agents for "the output fills the disk": T1 prints 60 MB; the others wait for its log's cut. */
function floodAgent(logs: string): string {
  return [
    'if [ "$TASK_ID" = T1 ]; then',
    OTHERS_STARTED,
    '  yes "$(printf "%099d" 0)" | head -c 60000000',
    '  exit 0',
    'fi',
    healthy(`grep -qs 'no space left on device' '${logs}/T1.log'`)
  ].join('\n')
}

interface Place {
  tmpfs: Tmpfs
  workspace: string
  runnerTemp: string
}

/** A checkout of the world's origin and the runner's temp dir, both on one 24 MiB tmpfs. */
async function onSmallDisk(w: World): Promise<Place> {
  const tmpfs = await mountTmpfs(24, 'disk-full')
  try {
    const workspace = await cloneWorkspace(w.origin, { dir: path.join(tmpfs.dir, 'workspace') })
    const runnerTemp = path.join(tmpfs.dir, 'runner-temp')
    await mkdir(runnerTemp)
    return { tmpfs, workspace, runnerTemp }
  } catch (error) {
    await tmpfs.unmount()
    throw error
  }
}

/** What `git worktree list` shows besides the checkout itself. */
async function extraWorktrees(repo: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const out = await git(repo, ['worktree', 'list', '--porcelain'], env)
  return out
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .slice(1)
}

describeTmpfs(`the bundled action on a disk that fills up${skipNote}`, () => {
  it('an agent that fills the disk fails with "no space left on device"; the others merge, the comment is posted, the worktrees are gone', async () => {
    const w = await world(TASKS)
    const place = await onSmallDisk(w)
    try {
      const r = await act(w, fillerAgent(1), {
        workspace: place.workspace,
        runnerTemp: place.runnerTemp
      })
      expect(r.timedOut).toBe(false)
      expect(r.stderr).not.toMatch(STACK_FRAME)
      expect(r.stdout).not.toMatch(STACK_FRAME)
      expect(r.exitCode).toBe(1)
      expect(statuses(r)).toEqual([
        ['T1', 'failed'],
        ['T2', 'merged'],
        ['T3', 'merged'],
        ['T4', 'merged']
      ])
      expect(tasksOutput(r)[0].reason).toMatch(
        /^agent exited with status 1: no space left on device in \S+\/worktrees\/T1 \(0 B free when it ended\)$/
      )
      const comment = statusComments(w)[0]?.body ?? ''
      expect(comment).toMatch(/T1[^\n]*\n+\*\*Why:\*\*[^\n]*no space left on device/)
      expect(comment).toContain('| T4 |')
      for (const id of ['T2', 'T3', 'T4'])
        expect(await showOnOrigin(w, INTEGRATION, `${id}.txt`)).toBe(id)
      expect(await extraWorktrees(place.workspace, w.env)).toEqual([])
      expect(existsSync(path.join(place.runnerTemp, 'agent-fanout', 'issue-12', 'worktrees'))).toBe(
        false
      )
    } finally {
      await place.tmpfs.unmount()
    }
  })

  it('an agent whose output floods its log until the disk is full: its log is cut, it fails with "no space left on device", the others merge', async () => {
    const w = await world(TASKS)
    const place = await onSmallDisk(w)
    try {
      const logs = path.join(place.runnerTemp, 'agent-fanout', 'issue-12', 'logs')
      const r = await act(w, floodAgent(logs), {
        workspace: place.workspace,
        runnerTemp: place.runnerTemp
      })
      expect(r.timedOut).toBe(false)
      expect(r.stderr).not.toMatch(STACK_FRAME)
      expect(r.exitCode).toBe(1)
      expect(statuses(r)).toEqual([
        ['T1', 'failed'],
        ['T2', 'merged'],
        ['T3', 'merged'],
        ['T4', 'merged']
      ])
      expect(tasksOutput(r)[0].reason).toMatch(/no space left on device for its output/)
      const comment = statusComments(w)[0]?.body ?? ''
      expect(comment).toMatch(/T1[^\n]*\n+\*\*Why:\*\*[^\n]*no space left on device/)
      expect(await showOnOrigin(w, INTEGRATION, 'T2.txt')).toBe('T2')
      expect(await extraWorktrees(place.workspace, w.env)).toEqual([])
    } finally {
      await place.tmpfs.unmount()
    }
  })
})

describeTmpfs(`the bundled action when the disk is full at the end${skipNote}`, () => {
  it("the verify command fills the runner's disk: the status comment is still posted, and the step fails saying its outputs could not be written", async () => {
    const w = await world('- [ ] One\n- [ ] Two\n')
    const place = await onSmallDisk(w)
    // The runner's file-command files on a disk of their own, which the verify command fills:
    // nothing the run deletes afterwards gives room back there.
    const commands = path.join(place.runnerTemp, '_runner_file_commands')
    await mkdir(commands)
    const small = await mountTmpfs(1, 'file-commands')
    try {
      await execFileAsync('mount', ['--bind', small.dir, commands])
      const r = await act(w, 'echo "$TASK_ID" > "$TASK_ID.txt"', {
        workspace: place.workspace,
        runnerTemp: place.runnerTemp,
        inputs: {
          // Runs after the merge and before the report.
          'verify-command': `dd if=/dev/zero of='${commands}/zeros' bs=64k 2>/dev/null; exit 0`
        }
      })
      expect(r.timedOut).toBe(false)
      expect(r.stderr).not.toMatch(STACK_FRAME)
      expect(r.exitCode).toBe(1)
      const comment = statusComments(w)[0]?.body ?? ''
      expect(comment).toContain('### agent-fanout: 2 merged')
      expect(await showOnOrigin(w, INTEGRATION, 'T2.txt')).toBe('T2')
      expect(r.errors.join('\n')).toMatch(
        /no space left on device for the step's outputs: .*ENOSPC: no space left on device/
      )
      expect(await extraWorktrees(place.workspace, w.env)).toEqual([])
    } finally {
      await execFileAsync('umount', [commands]).catch(() => undefined)
      await small.unmount()
      await place.tmpfs.unmount()
    }
  })
})

describeTmpfs(`the CLI on a disk that fills up${skipNote}`, () => {
  /** The CLI on a repository and work dir on a 24 MiB tmpfs; resolves whatever its exit status. */
  async function runCli(
    agent: string,
    place: { repo: string; workDir: string; scratch: string; env: NodeJS.ProcessEnv }
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const issueFile = path.join(place.scratch, 'tasks.md')
    await writeFile(issueFile, `# Disk\n\n${TASKS}`)
    const args = [CLI, 'run', '--issue-file', issueFile, '--agent', agent]
    args.push('--repo', place.repo, '--work-dir', place.workDir)
    const env = { ...place.env, SCRATCH: place.scratch }
    return execFileAsync(nodeBinary(), args, { env, maxBuffer: 64 * 1024 * 1024 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e
    )
  }

  async function smallDiskRepo(w: World): Promise<{ tmpfs: Tmpfs; repo: string; workDir: string }> {
    const tmpfs = await mountTmpfs(24, 'cli-disk-full')
    try {
      const repo = await cloneWorkspace(w.origin, { dir: path.join(tmpfs.dir, 'repo'), depth: 0 })
      return { tmpfs, repo, workDir: path.join(tmpfs.dir, 'work') }
    } catch (error) {
      await tmpfs.unmount()
      throw error
    }
  }

  it('an agent that fills the disk and exits 0: its commit finds no space, it fails saying so; the report is printed, exit 1', async () => {
    const w = await world(TASKS)
    const place = await smallDiskRepo(w)
    try {
      // T1 exits 0 with the disk full: committing its work is what fails.
      const r = await runCli(fillerAgent(0), {
        ...place,
        scratch: await tempDir('cli-disk-scratch'),
        env: w.env
      })
      expect(r.stderr).not.toMatch(STACK_FRAME)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(
        /^T1 failed: Fill the disk\n {2}Why: [^\n]*no space left on device while committing its work in [^\n]*worktrees\/T1/m
      )
      // The filling task's files went as soon as it failed, so the others found room.
      expect(r.stdout).toMatch(/^agent-fanout: 3 merged, 1 failed$/m)
      for (const id of ['T2', 'T3', 'T4'])
        expect(await git(place.repo, ['show', `fanout/issue-1/integration:${id}.txt`], w.env)).toBe(
          id
        )
      expect(await extraWorktrees(place.repo, w.env)).toEqual([])
      expect(existsSync(path.join(place.workDir, 'worktrees'))).toBe(false)
    } finally {
      await place.tmpfs.unmount()
    }
  })

  it("an agent's output floods the log until the disk is full: it fails saying so, the others merge; the report is printed, exit 1", async () => {
    const w = await world(TASKS)
    const place = await smallDiskRepo(w)
    try {
      const r = await runCli(floodAgent(path.join(place.workDir, 'logs')), {
        ...place,
        scratch: await tempDir('cli-disk-scratch'),
        env: w.env
      })
      expect(r.stderr).not.toMatch(STACK_FRAME)
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/^agent-fanout: 3 merged, 1 failed$/m)
      expect(r.stdout).toMatch(
        /^T1 failed: Fill the disk\n {2}Why: no space left on device for its output: the log [^\n]*T1\.log could not be written/m
      )
      expect(await git(place.repo, ['show', 'fanout/issue-1/integration:T4.txt'], w.env)).toBe('T4')
      expect(await extraWorktrees(place.repo, w.env)).toEqual([])
      // The log keeps its first MiB and says why it stops; the rest of the disk was given back.
      const logs = await readdir(path.join(place.workDir, 'logs'))
      expect(logs).toContain('T1.log')
    } finally {
      await place.tmpfs.unmount()
    }
  })
})
