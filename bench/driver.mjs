// One measured run of the engine, in its own Node process (as the action runs it), started by
// bench/run.mjs. Reads a JSON job from argv[2], writes a JSON result to the file job.out.
// Modes:
//   fanout  runFanout() on a repository: wall time, per-phase git time, agent times, peak RSS
//   merge   integrate() of existing task branches (the engine's merge phase on its own)
// The engine is the current source, compiled by run.mjs into bench/work/build.
import childProcess from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const job = JSON.parse(process.argv[2])
const now = () => performance.timeOrigin + performance.now()

// Every child process the engine starts (git, agents' supervisors, mkfifo, rm), with its start
// and end: spawn, execFile and exec all go through ChildProcess.prototype.spawn.
const children = []
const originalSpawn = childProcess.ChildProcess.prototype.spawn
childProcess.ChildProcess.prototype.spawn = function (options) {
  // From before the call: the fork blocks this thread, and that is part of the cost.
  const start = now()
  const result = originalSpawn.call(this, options)
  const record = {
    cmd: path.basename(options.file),
    arg: (options.args ?? []).slice(1, 5).join(' '),
    start,
    // how long the call held this thread (fork and exec happen inside it)
    blockMs: now() - start,
    end: 0
  }
  this.once('close', () => {
    record.end = now()
    children.push(record)
  })
  return result
}

const build = (rel) => import(pathToFileURL(path.join(job.build, rel)).href)
const { Git } = await build('core/git/git.js')

/** Which phase a git command belongs to, for the profile. */
function phaseOf(args) {
  const [cmd, sub] = args
  if (cmd === 'worktree') return sub === 'add' ? 'worktree add' : 'worktree remove/prune'
  if (cmd === 'reset' || cmd === 'checkout') return 'checkout'
  if (cmd === 'merge-tree' || cmd === 'commit-tree') return 'merge'
  if (['add', 'commit', 'merge-base', 'diff', 'update-ref'].includes(cmd)) return 'collect'
  if (cmd === 'rev-parse' && args.includes('HEAD^{commit}')) return 'collect'
  return 'other git'
}

/** Git that records every command's start, end and phase. */
class TimedGit extends Git {
  calls = []
  async run(args, options = {}) {
    const start = now()
    try {
      return await super.run(args, options)
    } finally {
      this.calls.push({ phase: phaseOf(args), cmd: `git ${args[0]}`, start, end: now() })
    }
  }
}

function peakRssKb() {
  const status = readFileSync('/proc/self/status', 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
}

const identity = { name: 'Bench', email: 'bench@example.test' }
const env = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: identity.name,
  GIT_AUTHOR_EMAIL: identity.email,
  GIT_COMMITTER_NAME: identity.name,
  GIT_COMMITTER_EMAIL: identity.email
}
const git = new TimedGit(job.repo, { identity, env })
const logger = {
  debug: () => undefined,
  // Like the CLI: every line goes to stdout (run.mjs discards it), so the echo path is measured.
  info: (m) => process.stdout.write(`${m}\n`),
  warning: (m) => process.stdout.write(`warning: ${m}\n`),
  error: (m) => process.stdout.write(`error: ${m}\n`),
  group: async (name, fn) => {
    marks.push({ name, at: now() })
    return fn()
  }
}
const marks = []

let result
if (job.mode === 'fanout') {
  let deletion
  const { runFanout } = await build('core/engine.js')
  const baseSha = (await git.out(['rev-parse', 'main'])).trim()
  const tasks = Array.from({ length: job.n }, (_, i) => ({
    id: `t${i + 1}`,
    idSource: 'explicit',
    position: i + 1,
    title: `task ${i + 1}`,
    body: '',
    checked: false
  }))
  const started = now()
  const fanout = await runFanout({
    git,
    logger,
    issue: { number: 1, title: 'bench' },
    tasks,
    baseBranch: 'main',
    baseSha,
    agentCommand: job.agent,
    maxParallel: job.maxParallel,
    taskTimeoutMs: 600_000,
    branchPrefix: `bench/run-${job.tag}`,
    workDir: job.workDir,
    identity,
    agentBaseEnv: env,
    secrets: [],
    // As the action does: the result is ready (and would be published) while worktree files
    // are still being deleted; the deletion is timed separately.
    deferDeletion: (deleted) => (deletion = deleted),
    worktreeMode: job.worktreeMode ?? 'checkout',
    ...(job.setupCommand ? { setupCommand: job.setupCommand } : {})
  })
  const ended = now()
  await deletion
  const deletedAt = now()
  result = {
    started,
    ended,
    wallMs: ended - started,
    deletedMs: deletedAt - started,
    statuses: fanout.tasks.map((t) => t.status),
    integrationSha: fanout.integrationSha,
    integrationTree: (await git.out(['rev-parse', `${fanout.integrationSha}^{tree}`])).trim(),
    diskBytes: fanout.tasks.map((t) => t.diskBytes ?? 0)
  }
} else if (job.mode === 'merge') {
  const { integrate } = await build('core/integrate.js')
  const baseSha = (await git.out(['rev-parse', 'main'])).trim()
  const tasks = []
  for (const branch of job.branches) {
    const tip = (await git.out(['rev-parse', branch])).trim()
    tasks.push({ id: branch.split('/').pop(), title: branch, branch, tip, changedFiles: [] })
  }
  git.calls.length = 0
  const started = now()
  const merged = await integrate(git, {
    baseSha,
    integrationBranch: `bench/merge-${job.tag}`,
    issueNumber: 1,
    tasks,
    hooks: { strategies: ['report'], maxReruns: 0, logger }
  })
  const ended = now()
  result = {
    started,
    ended,
    wallMs: ended - started,
    statuses: merged.outcomes.map((o) => o.status),
    integrationSha: merged.sha
  }
} else {
  throw new Error(`unknown mode ${job.mode}`)
}

function aggregate(calls, key) {
  const out = {}
  for (const call of calls) {
    const p = (out[key(call)] ??= { count: 0, sumMs: 0, first: Infinity, last: 0 })
    p.count++
    p.sumMs += call.end - call.start
    p.first = Math.min(p.first, call.start - result.started)
    p.last = Math.max(p.last, call.end - result.started)
  }
  return out
}
const removals = children.filter((c) => c.cmd === 'rm').map((c) => ({ ...c, phase: 'rm -rf' }))
const phases = aggregate([...git.calls, ...removals], (c) => c.phase)
const commands = aggregate(git.calls, (c) => c.cmd)
writeFileSync(
  job.out,
  JSON.stringify({
    ...result,
    tag: job.tag,
    phases,
    commands,
    processes: children.length,
    // main-thread time spent inside spawn calls, summed
    spawnBlockMs: children.reduce((sum, c) => sum + c.blockMs, 0),
    marks: marks.map((m) => ({ name: m.name, atMs: m.at - result.started })),
    gitCalls: git.calls.length,
    peakRssKb: peakRssKb(),
    // BENCH_TRACE=1: every child process, for a timeline (large; off by default)
    ...(process.env.BENCH_TRACE
      ? {
          trace: children
            .map((c) => ({ ...c, start: c.start - result.started, end: c.end - result.started }))
            .sort((a, b) => a.start - b.start)
        }
      : {})
  })
)
