// npm run bench [-- --runs 3 --large-runs 1 --case parallel,overhead,isolation,merge,memory]
//
// Builds its own inputs under --dir (default: the system temp directory, where the action keeps
// its worktrees on a runner; a ~10,000-file repository in 100 folders and a 300-file one),
// compiles the engine from src/ into bench/work/build, runs each case several
// times next to the baselines it is compared with, prints medians (min-max) and writes every raw
// figure to bench/results.json. BENCHMARKS.md explains the method.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BUILD = path.join(ROOT, 'bench', 'work', 'build')
const CASES = ['parallel', 'overhead', 'isolation', 'merge', 'memory', 'overlay', 'setup', 'live']

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'large-runs': { type: 'string', default: '1' },
    'baseline-runs': { type: 'string', default: '1' },
    case: { type: 'string', default: CASES.join(',') },
    n: { type: 'string', default: '1,4,16,64' },
    'parallel-repo': { type: 'string', default: 'small' },
    'agent-seconds': { type: 'string', default: '2' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results.json') },
    // Where the action puts its worktrees: the runner's temp directory, not the workspace.
    dir: { type: 'string', default: path.join(os.tmpdir(), 'agent-fanout-bench') },
    help: { type: 'boolean', default: false }
  }
})
if (opts.help) {
  console.log(`npm run bench -- [options]
  --runs <n>            repetitions of each cell (default 3)
  --large-runs <n>      repetitions of the cells that take minutes: N=64 on the 10,000-file
                        repository (default 1)
  --baseline-runs <n>   repetitions of the one-at-a-time baseline (N agents of 2 s in a row,
                        so it barely varies; default 1)
  --case <list>         subset of ${CASES.join(',')} (default all)
  --n <list>            task counts (default 1,4,16,64)
  --parallel-repo <r>   small|big: repository of the parallel case (default small)
  --agent-seconds <s>   how long each agent sleeps (default 2; the live case's agents sleep
                        1, 2, 3 and 4 times this)
  --out <file>          raw figures (default bench/results.json)
  --dir <dir>           generated repositories, worktrees, clones (default: a directory under
                        the system temp directory, as the action uses the runner's temp dir)`)
  process.exit(0)
}
const WORK = path.resolve(opts.dir)
const RUNS = Number(opts.runs)
const LARGE_RUNS = Number(opts['large-runs'])
const BASELINE_RUNS = Number(opts['baseline-runs'])
const NS = opts.n.split(',').map(Number)
const SELECTED = opts.case.split(',').map((c) => c.trim())
const AGENT_SECONDS = Number(opts['agent-seconds'])
for (const c of SELECTED) if (!CASES.includes(c)) throw new Error(`unknown case ${c}`)

const REPOS = {
  big: { dir: path.join(WORK, 'repos', 'big'), folders: 100, files: 100 },
  small: { dir: path.join(WORK, 'repos', 'small'), folders: 10, files: 30 }
}

// ---------------------------------------------------------------- helpers

const gitEnv = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.test',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.test',
  LC_ALL: 'C'
}

function git(cwd, args, input) {
  return execFileSync('git', args, {
    cwd,
    env: gitEnv,
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['pipe', 'pipe', 'pipe']
  }).trim()
}

function sh(cwd, script, extraEnv = {}) {
  const r = spawnSync('bash', ['-c', script], {
    cwd,
    env: { ...gitEnv, ...extraEnv },
    encoding: 'utf8',
    maxBuffer: 1 << 28
  })
  if (r.status !== 0) throw new Error(`bash failed (${r.status}): ${script}\n${r.stderr}`)
  return r.stdout
}

/** Wall time of fn in ms. */
function timed(fn) {
  const t = performance.now()
  fn()
  return performance.now() - t
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const stats = (xs) => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  n: xs.length
})

/** "1.23 s (1.20-1.31)" style. */
function fmt(st, unit = 's') {
  if (!st) return '-'
  const f = (v) =>
    unit === 's' ? (v / 1000).toFixed(2) : unit === 'MB' ? v.toFixed(0) : v.toFixed(2)
  const range = st.n > 1 ? ` (${f(st.min)}–${f(st.max)})` : ''
  return `${f(st.median)} ${unit}${range}`
}
const ratio = (a, b) => (b === 0 ? Infinity : a / b)

function table(title, header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`
  const out = [
    `\n### ${title}\n`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line)
  ].join('\n')
  console.log(out)
  markdown.push(out)
}
const markdown = []

function cleanRepo(dir) {
  cleanRefs(dir, 'refs/heads/bench/run-')
}

function cleanRefs(dir, prefix) {
  const refs = git(dir, ['for-each-ref', '--format=%(refname)', prefix])
  if (refs)
    git(
      dir,
      ['update-ref', '--stdin'],
      refs
        .split('\n')
        .map((r) => `delete ${r}\n`)
        .join('')
    )
  git(dir, ['worktree', 'prune'])
}

function freshDir(dir) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

// ---------------------------------------------------------------- inputs

/** Deterministic text that packs like source code (not one long delta chain). */
function fileText(seed) {
  const words =
    'const let return function import export await async if else for while class new this of in type interface value result error index count item list map set'.split(
      ' '
    )
  let s = seed * 2654435761
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff)
  let text = ''
  for (let l = 0; l < 30; l++) {
    let line = ''
    for (let w = 0; w < 6; w++) line += `${words[rnd() % words.length]}${rnd() % 1000} `
    text += `${line.trimEnd()}\n`
  }
  return text
}

const fileName = (repo, i) =>
  `pkg${String(i % repo.folders).padStart(2, '0')}/file${String(Math.floor(i / repo.folders) % repo.files).padStart(3, '0')}.ts`

function ensureRepo(name) {
  const repo = REPOS[name]
  const stamp = path.join(repo.dir, '.git', 'bench-ready')
  if (existsSync(stamp)) return settle(repo)
  console.log(`generating the ${name} repository (${repo.folders * repo.files} files)...`)
  freshDir(repo.dir)
  git(repo.dir, ['init', '-q', '-b', 'main'])
  for (let d = 0; d < repo.folders; d++) {
    mkdirSync(path.join(repo.dir, `pkg${String(d).padStart(2, '0')}`))
  }
  for (let i = 0; i < repo.folders * repo.files; i++) {
    writeFileSync(path.join(repo.dir, fileName(repo, i)), fileText(i + 1))
  }
  git(repo.dir, ['add', '-A'])
  git(repo.dir, ['commit', '-q', '-m', 'generated'])
  // Packed, like a fresh clone; the work tree itself is not needed by any case.
  git(repo.dir, ['gc', '-q'])
  writeFileSync(stamp, '')
  return settle(repo)
}

/**
 * The same repository state for every measurement: runs leave unreachable commits behind, and
 * once ~6,700 objects are loose a baseline's `git commit` would start an automatic gc in the
 * background of the next cells. So no automatic gc, and what earlier runs left is pruned here,
 * before anything is timed.
 */
function settle(repo) {
  if (settled.has(repo)) return repo
  git(repo.dir, ['config', 'gc.auto', '0'])
  cleanRepo(repo.dir)
  const loose = Number(/^count: (\d+)/m.exec(git(repo.dir, ['count-objects', '-v']))[1])
  if (loose > 500) {
    git(repo.dir, ['reflog', 'expire', '--expire=now', '--all'])
    git(repo.dir, ['gc', '-q', '--prune=now'])
  }
  settled.add(repo)
  return repo
}
const settled = new Set()

/** The agent: sleeps, appends a line to its own file, records when it ran. */
function agentCommand(repo, timesDir, extra = '') {
  return [
    's=$(date +%s%N)',
    extra,
    `sleep ${AGENT_SECONDS}`,
    'n=$(( ${TASK_ID#t} - 1 ))',
    `f=$(printf 'pkg%02d/file%03d.ts' $((n % ${repo.folders})) $(( (n / ${repo.folders}) % ${repo.files} )))`,
    'echo "edited by $TASK_ID" >> "$f"',
    `echo "$s $(date +%s%N)" > ${timesDir}/$TASK_ID`
  ]
    .filter(Boolean)
    .join('; ')
}

function readAgentTimes(timesDir, startedMs) {
  const spans = readdirSync(timesDir).map((f) => {
    const [s, e] = readFileSync(path.join(timesDir, f), 'utf8').trim().split(' ').map(Number)
    return { start: s / 1e6 - startedMs, end: e / 1e6 - startedMs }
  })
  return {
    longestMs: Math.max(...spans.map((x) => x.end - x.start)),
    firstStartMs: Math.min(...spans.map((x) => x.start)),
    lastStartMs: Math.max(...spans.map((x) => x.start)),
    lastEndMs: Math.max(...spans.map((x) => x.end))
  }
}

let tagCounter = 0
/** Runs the driver (the engine in its own process) and returns its figures. */
async function drive(job) {
  const tag = `${process.pid}-${++tagCounter}`
  const out = path.join(WORK, `result-${tag}.json`)
  const full = { ...job, tag, out, build: BUILD }
  await new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bench', 'driver.mjs'), JSON.stringify(full)],
      {
        env: gitEnv,
        stdio: ['ignore', 'ignore', 'pipe']
      }
    )
    let err = ''
    child.stderr.on('data', (c) => (err += c))
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`driver failed: ${err}`))
    )
  })
  const result = JSON.parse(readFileSync(out, 'utf8'))
  rmSync(out)
  return result
}

/** One engine run of N tasks; adds the agents' own timings. */
async function fanoutRun(repo, n, maxParallel, agentExtra = '', extraJob = {}) {
  cleanRepo(repo.dir)
  const timesDir = freshDir(path.join(WORK, 'times'))
  const r = await drive({
    mode: 'fanout',
    repo: repo.dir,
    n,
    maxParallel,
    agent: agentCommand(repo, timesDir, agentExtra),
    workDir: path.join(WORK, 'engine-work'),
    ...extraJob
  })
  const bad = r.statuses.filter((s) => s !== 'merged')
  if (bad.length) throw new Error(`engine run had non-merged tasks: ${bad.join(',')}`)
  r.agents = readAgentTimes(timesDir, r.started)
  r.overheadMs = r.wallMs - r.agents.longestMs
  cleanRepo(repo.dir)
  return r
}

const runsFor = (n) => (n >= 64 ? LARGE_RUNS : RUNS)

// ---------------------------------------------------------------- cases

const results = {
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    git: git(ROOT, ['version']),
    date: new Date().toISOString(),
    load: os.loadavg()
  },
  options: {
    runs: RUNS,
    largeRuns: LARGE_RUNS,
    baselineRuns: BASELINE_RUNS,
    n: NS,
    agentSeconds: AGENT_SECONDS,
    dir: WORK
  },
  cases: {}
}

async function caseParallel() {
  const repo = ensureRepo(opts['parallel-repo'])
  const rows = []
  const raw = []
  for (const n of NS) {
    const p = Math.min(n, 16)
    const engine = []
    const minimal = []
    for (let i = 0; i < RUNS; i++) {
      engine.push(await fanoutRun(repo, n, p))
      minimal.push(minimalRun(repo, n, p))
    }
    // Baseline: the same agents one after another in one checkout, a commit after each.
    const checkout = path.join(WORK, 'serial-checkout')
    rmSync(checkout, { recursive: true, force: true })
    git(repo.dir, ['worktree', 'prune'])
    git(repo.dir, ['worktree', 'add', '-q', '--detach', checkout, 'main'])
    const timesDir = freshDir(path.join(WORK, 'times'))
    const serial = []
    for (let i = 0; i < BASELINE_RUNS; i++) {
      git(checkout, ['reset', '-q', '--hard', 'main'])
      serial.push(
        timed(() => {
          for (let t = 1; t <= n; t++) {
            sh(checkout, agentCommand(repo, timesDir), { TASK_ID: `t${t}` })
            git(checkout, ['add', '-A'])
            git(checkout, ['commit', '-q', '-m', `task t${t}`])
          }
        })
      )
    }
    rmSync(checkout, { recursive: true, force: true })
    git(repo.dir, ['worktree', 'prune'])
    const wall = stats(engine.map((r) => r.wallMs))
    const least = stats(minimal)
    const base = stats(serial)
    const ideal = Math.ceil(n / p) * AGENT_SECONDS * 1000
    raw.push({
      n,
      maxParallel: p,
      engineWallMs: engine.map((r) => r.wallMs),
      minimalPipelineMs: minimal,
      serialMs: serial,
      engine
    })
    rows.push([
      n,
      p,
      `${engine.length} (${serial.length})`,
      fmt(wall),
      fmt(least),
      serial.length ? fmt(base) : '-',
      // --baseline-runs 0 skips the one-at-a-time baseline, and the ratios built on it
      serial.length ? `${ratio(base.median, wall.median).toFixed(1)}×` : '-',
      serial.length ? `${ratio(base.median, least.median).toFixed(1)}×` : '-',
      `${ratio(wall.median, least.median).toFixed(2)}×`,
      fmt(stats(engine.map((r) => r.wallMs - ideal)))
    ])
  }
  results.cases.parallel = { repo: opts['parallel-repo'], raw }
  table(
    `parallel vs one-at-a-time (${opts['parallel-repo']} repository, agents sleep ${AGENT_SECONDS} s)`,
    [
      'N',
      'max-parallel',
      'runs',
      'agent-fanout wall',
      'minimal pipeline',
      'one at a time',
      'speedup',
      'bound (one at a time ÷ minimal)',
      'agent-fanout ÷ minimal',
      'wall − ideal (⌈N/P⌉ × agent)'
    ],
    rows
  )
}

/**
 * bench/minimal-pipeline.sh on the same tasks: worktree, checkout, agent, commit per task in
 * plain git and bash, nothing else. Run right after each engine run, so both see the machine in
 * the same state (its file-creation speed varies several-fold within minutes).
 */
function minimalRun(repo, n, maxParallel) {
  const dir = freshDir(path.join(WORK, 'minimal'))
  const timesDir = freshDir(path.join(WORK, 'times'))
  const ms = timed(() =>
    execFileSync(
      path.join(ROOT, 'bench', 'minimal-pipeline.sh'),
      [repo.dir, dir, String(n), String(maxParallel), agentCommand(repo, timesDir)],
      { env: gitEnv, stdio: ['ignore', 'ignore', 'pipe'] }
    )
  )
  rmSync(dir, { recursive: true, force: true })
  git(repo.dir, ['worktree', 'prune'])
  return ms
}

async function caseOverhead() {
  const repo = ensureRepo('big')
  const rows = []
  const profiles = []
  const raw = []
  for (const n of NS) {
    const engine = []
    const floor = []
    for (let i = 0; i < runsFor(n); i++) {
      engine.push(await fanoutRun(repo, n, n))
      // git's floor: plain `git worktree add` of the same N worktrees, one after another.
      const dir = freshDir(path.join(WORK, 'floor'))
      floor.push(
        timed(() => {
          for (let t = 1; t <= n; t++)
            git(repo.dir, ['worktree', 'add', '-q', '--detach', path.join(dir, `t${t}`), 'main'])
        })
      )
      rmSync(dir, { recursive: true, force: true })
      git(repo.dir, ['worktree', 'prune'])
    }
    const over = stats(engine.map((r) => r.overheadMs))
    const fl = stats(floor)
    raw.push({ n, engine, floorMs: floor })
    rows.push([
      n,
      engine.length,
      fmt(stats(engine.map((r) => r.wallMs))),
      fmt(stats(engine.map((r) => r.agents.longestMs))),
      fmt(over),
      fmt(fl),
      `${ratio(over.median, fl.median).toFixed(2)}×`,
      `${(over.median / n / 1000).toFixed(3)} s`,
      fmt(stats(engine.map((r) => r.deletedMs - r.wallMs)))
    ])
    profiles.push({ n, engine })
  }
  results.cases.overhead = { repo: 'big', raw }
  table(
    `overhead vs git's floor (10,000-file repository, max-parallel = N, agents sleep ${AGENT_SECONDS} s)`,
    [
      'N',
      'runs',
      'wall',
      'longest agent',
      'overhead (wall − longest agent)',
      'serial git worktree add ×N',
      'overhead / floor',
      'overhead per task',
      'then deleting the worktrees’ files'
    ],
    rows
  )
  // Where the time goes: median over runs of each phase's summed git time and its span.
  const phaseRows = []
  for (const { n, engine } of profiles) {
    const names = [...new Set(engine.flatMap((r) => Object.keys(r.phases)))]
    for (const name of names) {
      const got = engine.map((r) => r.phases[name]).filter(Boolean)
      phaseRows.push([
        n,
        name,
        median(got.map((p) => p.count)),
        `${(median(got.map((p) => p.sumMs)) / 1000).toFixed(2)} s`,
        `${(median(got.map((p) => p.first)) / 1000).toFixed(2)}–${(median(got.map((p) => p.last)) / 1000).toFixed(2)} s`
      ])
    }
    const merge = engine.map((r) => r.marks.find((m) => m.name.startsWith('Merge'))?.atMs ?? 0)
    phaseRows.push([
      n,
      'agents (own timing)',
      n,
      '',
      `first start ${(median(engine.map((r) => r.agents.firstStartMs)) / 1000).toFixed(2)}, last start ${(median(engine.map((r) => r.agents.lastStartMs)) / 1000).toFixed(2)}, last end ${(median(engine.map((r) => r.agents.lastEndMs)) / 1000).toFixed(2)} s`
    ])
    phaseRows.push([
      n,
      'merge phase starts / result ready / files deleted',
      '',
      '',
      `${(median(merge) / 1000).toFixed(2)} / ${(median(engine.map((r) => r.wallMs)) / 1000).toFixed(2)} / ${(median(engine.map((r) => r.deletedMs)) / 1000).toFixed(2)} s`
    ])
  }
  table(
    'profile of the overhead case (git time summed over concurrent calls; span = first start–last end, from the run start)',
    ['N', 'phase', 'git calls', 'summed time', 'span'],
    phaseRows
  )
}

function duBytes(paths) {
  const out = execFileSync('du', ['-s', '-c', '-B1', ...paths], { encoding: 'utf8' })
  return Number(/(\d+)\s+total/.exec(out)[1])
}

async function caseIsolation() {
  const repo = ensureRepo('big')
  const K = 4
  const kinds = {
    'git worktree add': (dest) =>
      git(repo.dir, ['worktree', 'add', '-q', '--detach', dest, 'main']),
    // The engine's own WorktreeManager (admin files written directly, then `checkout -B`),
    // one worktree at a time like the other rows.
    "engine's worktree (WorktreeManager.create)": async (dest) => {
      const manager = await engineManager(path.dirname(dest))
      await manager.create(path.basename(dest), `bench/iso/${path.basename(dest)}`, mainSha)
    },
    'git clone --local': (dest) => git(WORK, ['clone', '-q', '--local', repo.dir, dest])
  }
  const mainSha = git(repo.dir, ['rev-parse', 'main'])
  const { Git } = await import(pathToFileURL(path.join(BUILD, 'core/git/git.js')).href)
  const { WorktreeManager } = await import(
    pathToFileURL(path.join(BUILD, 'core/git/worktrees.js')).href
  )
  const quiet = { debug() {}, info() {}, warning() {}, error() {}, group: (_, fn) => fn() }
  const managers = new Map()
  const engineManager = async (root) => {
    if (!managers.has(root)) {
      const manager = new WorktreeManager(new Git(repo.dir, { env: gitEnv }), root, quiet)
      await manager.recover()
      managers.set(root, manager)
    }
    return managers.get(root)
  }
  const rows = []
  const raw = Object.fromEntries(
    Object.keys(kinds).map((k) => [k, { msPerTask: [], bytesPerTask: [] }])
  )
  // Kinds take turns within each round, so that each sees the disk in the same state: deleting
  // 40,000 files slows this disk for a while after rm returns (ext4 here is mounted with discard).
  for (let i = 0; i < RUNS; i++) {
    for (const [kind, make] of Object.entries(kinds)) {
      const dir = freshDir(path.join(WORK, 'isolation'))
      const gitDir = path.join(repo.dir, '.git')
      const before = duBytes([gitDir])
      const dests = Array.from({ length: K }, (_, k) => path.join(dir, `t${k + 1}`))
      if (kind.startsWith("engine's")) await engineManager(dir)
      const t = performance.now()
      for (const d of dests) await make(d)
      raw[kind].msPerTask.push((performance.now() - t) / K)
      raw[kind].bytesPerTask.push((duBytes([gitDir, ...dests]) - before) / K)
      if (managers.has(dir)) await managers.get(dir).removeAll()
      managers.delete(dir)
      rmSync(dir, { recursive: true, force: true })
      git(repo.dir, ['worktree', 'prune'])
      cleanRefs(repo.dir, 'refs/heads/bench/iso/')
    }
  }
  for (const [kind, { msPerTask, bytesPerTask }] of Object.entries(raw))
    rows.push([kind, fmt(stats(msPerTask)), fmt(stats(bytesPerTask.map((b) => b / 2 ** 20)), 'MB')])
  const wt = median(raw['git worktree add'].msPerTask)
  const cl = median(raw['git clone --local'].msPerTask)
  rows.push([
    'clone / worktree',
    `${ratio(cl, wt).toFixed(2)}×`,
    `${ratio(median(raw['git clone --local'].bytesPerTask), median(raw['git worktree add'].bytesPerTask)).toFixed(2)}×`
  ])
  results.cases.isolation = { repo: 'big', tasksPerRun: K, raw }
  table(
    `isolation cost per task (10,000-file repository, ${K} per run, one after another)`,
    ['per task', 'time', 'disk (new bytes)'],
    rows
  )
}

/** 64 task branches off main, each changing one file and adding one: disjoint changes. */
function ensureMergeBranches(repo, count) {
  const names = Array.from({ length: count }, (_, i) => `bench/m/t${i + 1}`)
  const have = git(repo.dir, ['for-each-ref', '--format=%(refname:short)', 'refs/heads/bench/m/'])
  if (have.split('\n').filter(Boolean).length === count) return names
  const base = git(repo.dir, ['rev-parse', 'main'])
  const index = path.join(WORK, 'merge-index')
  for (let i = 0; i < count; i++) {
    const env = { GIT_INDEX_FILE: index }
    const run = (args, input) =>
      execFileSync('git', args, {
        cwd: repo.dir,
        env: { ...gitEnv, ...env },
        input,
        encoding: 'utf8'
      }).trim()
    run(['read-tree', base])
    const file = fileName(repo, i)
    const old = run(['cat-file', 'blob', `${base}:${file}`])
    const changed = run(['hash-object', '-w', '--stdin'], `${old}\nchanged by task ${i + 1}\n`)
    const added = run(['hash-object', '-w', '--stdin'], `new file of task ${i + 1}\n`)
    run(['update-index', '--cacheinfo', `100644,${changed},${file}`])
    run([
      'update-index',
      '--add',
      '--cacheinfo',
      `100644,${added},${path.dirname(file)}/new-t${i + 1}.ts`
    ])
    const tree = run(['write-tree'])
    const commit = run(['commit-tree', tree, '-p', base, '-m', `task ${i + 1}`])
    run(['update-ref', `refs/heads/${names[i]}`, commit])
  }
  rmSync(index, { force: true })
  return names
}

async function caseMerge() {
  const rows = []
  const raw = {}
  for (const name of ['small', 'big']) {
    const repo = ensureRepo(name)
    const branches = ensureMergeBranches(repo, 64)
    const engine = []
    for (let i = 0; i < RUNS; i++) {
      const r = await drive({ mode: 'merge', repo: repo.dir, branches })
      if (r.statuses.some((s) => s !== 'merged')) throw new Error('merge case: not all merged')
      git(repo.dir, ['update-ref', '-d', `refs/heads/bench/merge-${r.tag}`])
      engine.push(r)
    }
    // Baseline: git merge --no-ff of the same branches one after another in a checkout.
    const checkout = path.join(WORK, 'merge-checkout')
    rmSync(checkout, { recursive: true, force: true })
    git(repo.dir, ['worktree', 'prune'])
    git(repo.dir, ['worktree', 'add', '-q', '--detach', checkout, 'main'])
    const script = branches
      .map((b) => `git merge -q --no-ff --no-edit -m 'Merge ${b}' ${b}`)
      .join(' && ')
    const serial = []
    let serialTree = ''
    for (let i = 0; i < RUNS; i++) {
      git(checkout, ['reset', '-q', '--hard', 'main'])
      serial.push(timed(() => sh(checkout, script)))
      serialTree = git(checkout, ['rev-parse', 'HEAD^{tree}'])
    }
    rmSync(checkout, { recursive: true, force: true })
    git(repo.dir, ['worktree', 'prune'])
    const engineTree = git(repo.dir, ['rev-parse', `${engine[0].integrationSha}^{tree}`])
    const e = stats(engine.map((r) => r.wallMs))
    const s = stats(serial)
    raw[name] = {
      engineMs: engine.map((r) => r.wallMs),
      serialMs: serial,
      sameTree: engineTree === serialTree,
      engine
    }
    rows.push([
      `${name} (${repo.folders * repo.files} files)`,
      fmt(e),
      fmt(s),
      `${ratio(s.median, e.median).toFixed(1)}×`,
      engineTree === serialTree ? 'yes' : 'NO',
      median(engine.map((r) => r.gitCalls))
    ])
  }
  results.cases.merge = { branches: 64, raw }
  table(
    'merge: 64 disjoint task branches into the integration branch',
    [
      'repository',
      "engine's merge phase",
      'git merge --no-ff ×64 in a checkout',
      'speedup',
      'same tree',
      'git processes'
    ],
    rows
  )
}

async function caseMemory() {
  const repo = ensureRepo('small')
  const runs = []
  for (let i = 0; i < RUNS; i++) {
    runs.push(
      await fanoutRun(
        repo,
        8,
        8,
        "yes 'agent output: reading files, thinking, editing, running tests' | head -c 200000000"
      )
    )
  }
  results.cases.memory = { agents: 8, bytesPerAgent: 200_000_000, runs }
  table(
    'memory: 8 agents each printing 200 MB (small repository)',
    ['runs', 'peak RSS of the engine process (VmHWM)', 'wall'],
    [
      [
        runs.length,
        fmt(stats(runs.map((r) => r.peakRssKb / 1024)), 'MB'),
        fmt(stats(runs.map((r) => r.wallMs)))
      ]
    ]
  )
}

/**
 * Overlay worktrees (worktree-mode: overlay) against checkouts, on the 10,000-file repository:
 * the overhead (wall − longest agent) against serial `git worktree add` of the same N, the
 * integration trees of both modes (must be equal), and the disk each task's worktree took.
 */
async function caseOverlay() {
  const repo = ensureRepo('big')
  const rows = []
  const raw = []
  for (const n of NS.filter((x) => x >= 16)) {
    const overlay = []
    const checkout = []
    const floor = []
    for (let i = 0; i < runsFor(n); i++) {
      overlay.push(await fanoutRun(repo, n, n, '', { worktreeMode: 'overlay' }))
      checkout.push(await fanoutRun(repo, n, n, '', { worktreeMode: 'checkout' }))
      const dir = freshDir(path.join(WORK, 'floor'))
      floor.push(
        timed(() => {
          for (let t = 1; t <= n; t++)
            git(repo.dir, ['worktree', 'add', '-q', '--detach', path.join(dir, `t${t}`), 'main'])
        })
      )
      // rm, not Node's rmSync: 160,000 files go several times faster.
      execFileSync('rm', ['-rf', dir])
      git(repo.dir, ['worktree', 'prune'])
    }
    const trees = new Set([...overlay, ...checkout].map((r) => r.integrationTree))
    if (trees.size !== 1) throw new Error(`overlay and checkout integration trees differ (N=${n})`)
    const over = stats(overlay.map((r) => r.overheadMs))
    const overCheckout = stats(checkout.map((r) => r.overheadMs))
    const fl = stats(floor)
    const disk = (runs) => median(runs.flatMap((r) => r.diskBytes)) / 1024
    raw.push({ n, overlay, checkout, floorMs: floor })
    rows.push([
      n,
      overlay.length,
      fmt(stats(overlay.map((r) => r.wallMs))),
      fmt(over),
      fmt(overCheckout),
      fmt(fl),
      `${ratio(over.median, fl.median).toFixed(3)}×`,
      `${ratio(overCheckout.median, fl.median).toFixed(2)}×`,
      'equal',
      `${disk(overlay).toFixed(0)} KiB`,
      `${disk(checkout).toFixed(0)} KiB`
    ])
  }
  results.cases.overlay = { repo: 'big', raw }
  table(
    `overlay worktrees vs checkouts (10,000-file repository, max-parallel = N, agents sleep ${AGENT_SECONDS} s)`,
    [
      'N',
      'runs',
      'overlay wall',
      'overlay overhead',
      'checkout overhead',
      'serial git worktree add ×N',
      'overlay overhead / floor',
      'checkout overhead / floor',
      'integration trees',
      'disk per task, overlay',
      'disk per task, checkout'
    ],
    rows
  )
}

/**
 * setup-command once: a set-up of 10 s (it writes a node_modules-like folder), 8 tasks of 2 s.
 * Overlay: one set-up in the shared base, so wall ≈ set-up + longest agent; checkout: a set-up
 * per worktree, the first alone, then the others side by side.
 */
async function caseSetup() {
  const repo = ensureRepo('small')
  const n = 8
  const setupSeconds = 10
  const setupCommand = `sleep ${setupSeconds}; mkdir -p node_modules/dep; for i in $(seq 1 200); do echo "module $i" > node_modules/dep/m$i.js; done`
  const rows = []
  const raw = {}
  for (const mode of ['overlay', 'checkout']) {
    const runs = []
    for (let i = 0; i < RUNS; i++)
      runs.push(await fanoutRun(repo, n, n, '', { worktreeMode: mode, setupCommand }))
    raw[mode] = runs
    const wall = stats(runs.map((r) => r.wallMs))
    const bound = setupSeconds * 1000 + median(runs.map((r) => r.agents.longestMs)) + 2000
    rows.push([
      mode,
      runs.length,
      fmt(wall),
      fmt({ median: bound, min: bound, max: bound, n: 1 }),
      wall.median <= bound ? 'yes' : 'no'
    ])
  }
  results.cases.setup = { repo: 'small', setupSeconds, n, raw }
  table(
    `setup-command once (set-up ${setupSeconds} s, ${n} tasks of ${AGENT_SECONDS} s, small repository)`,
    ['worktree-mode', 'runs', 'wall', 'set-up + longest agent + 2 s', 'within'],
    rows
  )
}

// ---------------------------------------------------------------- live status

const SUPPORT = path.join(ROOT, 'bench', 'work', 'support')

/**
 * The test stand-ins (GitHub API, runner-like harness), compiled from test-support/ so the bench
 * runs the bundled action exactly as the end-to-end tests do. The harness finds action.yml next
 * to its own root: a copy is put there.
 */
async function loadSupport() {
  rmSync(SUPPORT, { recursive: true, force: true })
  execFileSync(
    path.join(ROOT, 'node_modules', '.bin', 'tsc'),
    [
      ...[
        'test-support/fake-github.ts',
        'test-support/git-fixtures.ts',
        'test-support/run-action.ts'
      ],
      ...['--outDir', SUPPORT, '--rootDir', '.', '--module', 'NodeNext', '--moduleResolution'],
      ...['NodeNext', '--target', 'ES2022', '--types', 'node', '--skipLibCheck'],
      ...['--esModuleInterop', '--resolveJsonModule']
    ],
    { cwd: ROOT, stdio: 'inherit' }
  )
  writeFileSync(path.join(SUPPORT, 'action.yml'), readFileSync(path.join(ROOT, 'action.yml')))
  const load = (f) => import(pathToFileURL(path.join(SUPPORT, 'test-support', f)).href)
  return {
    ...(await load('fake-github.js')),
    ...(await load('git-fixtures.js')),
    ...(await load('run-action.js'))
  }
}

/** Status cells of a status body's table rows (the third cell), by task ID. */
function rowStates(body) {
  const states = new Map()
  for (const line of body.split('\n')) {
    const cells = line.split(' | ')
    if (line.startsWith('| T') && cells.length > 3) states.set(cells[0].slice(2), cells[2])
  }
  return states
}

/**
 * The status comment of the action (dist/index.js, built by `npm run package`) on a runner-like
 * harness, four agents sleeping 1-4 × --agent-seconds: when the first comment appears after the
 * process starts, how long after each agent's end its row shows it finished, how long after the
 * last agent the comment shows every task's outcome, and the full report (after push and pull
 * request). Issue 17 asks for the first within 2 s, the outcome of all within 2 s.
 */
async function caseLive() {
  const dist = path.join(ROOT, 'dist', 'index.js')
  if (!existsSync(dist)) throw new Error('the live case runs dist/index.js: run npm run package')
  const s = await loadSupport()
  const raw = []
  for (let i = 0; i < RUNS; i++) {
    const origin = await s.createOrigin({ 'README.md': '# Bench\n' })
    const api = await s.FakeGitHub.start({ originDir: origin.bareDir, conformance: false })
    const body = '- [ ] one\n- [ ] two\n- [ ] three\n- [ ] four\n'
    api.addIssue({ number: 7, title: 'Live bench', body, user: { login: 'author' } })
    api.setPermission('maintainer', 'write')
    const workspace = await s.cloneWorkspace(origin, { depth: 1 })
    const scratch = await s.tempDir('bench-live')
    const agent = [
      'n=${TASK_ID#T}',
      `sleep "$(awk "BEGIN { print $n * ${AGENT_SECONDS} }")"`,
      'echo "$TASK_ID" > "$TASK_ID.txt"',
      'date +%s%3N > "$SCRATCH/$TASK_ID.end"'
    ].join('\n')
    const t0 = Date.now()
    const r = await s.runAction({
      workspace,
      inputs: { 'agent-command': agent },
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 7, title: 'Live bench', body, user: { login: 'author' } },
        repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
        sender: { login: 'maintainer', type: 'User' }
      },
      api,
      env: { SCRATCH: scratch },
      entry: dist
    })
    await api.stop()
    if (r.exitCode !== 0) throw new Error(`live run failed: ${r.stderr || r.stdout.slice(-2000)}`)
    const writes = api.requests
      .filter(
        (q) =>
          (q.method === 'POST' && /\/issues\/7\/comments$/.test(q.path)) ||
          (q.method === 'PATCH' && /\/issues\/comments\/\d+$/.test(q.path))
      )
      .map((q) => ({
        at: q.at,
        rows: rowStates(q.body.body),
        final: /Pull request: #/.test(q.body.body)
      }))
    const ids = ['T1', 'T2', 'T3', 'T4']
    const ends = ids.map((id) => Number(readFileSync(path.join(scratch, `${id}.end`), 'utf8')))
    const shownDone = (w, id) => w.rows.has(id) && !/queued|running/.test(w.rows.get(id))
    const lags = ids.map(
      (id, k) => writes.find((w) => w.at >= ends[k] && shownDone(w, id)).at - ends[k]
    )
    const last = Math.max(...ends)
    const allDone = writes.find((w) => w.at >= last && ids.every((id) => shownDone(w, id)))
    const final = writes.find((w) => w.final)
    raw.push({
      firstMs: writes[0].at - t0,
      finishLagMs: lags,
      allDoneMs: allDone.at - last,
      finalReportMs: final.at - last,
      writes: writes.length
    })
  }
  results.cases.live = { agents: 4, raw }
  table(
    `live status comment (4 agents sleeping 1-4 × ${AGENT_SECONDS} s; dist/index.js on the runner-like harness)`,
    ['measure', 'median (min–max)'],
    [
      ['first comment, after the process started', fmt(stats(raw.map((x) => x.firstMs)))],
      [
        'a task shown finished, after its agent ended',
        fmt(stats(raw.flatMap((x) => x.finishLagMs)))
      ],
      ['every outcome shown, after the last agent ended', fmt(stats(raw.map((x) => x.allDoneMs)))],
      [
        'final report (pushed, pull request), after the last agent',
        fmt(stats(raw.map((x) => x.finalReportMs)))
      ],
      ['comment writes per run', fmt(stats(raw.map((x) => x.writes)), '')]
    ]
  )
}

// ---------------------------------------------------------------- main

mkdirSync(WORK, { recursive: true })
console.log('compiling the engine from src/ into bench/work/build ...')
rmSync(BUILD, { recursive: true, force: true })
execFileSync(
  path.join(ROOT, 'node_modules', '.bin', 'tsc'),
  [
    ...['src/core/engine.ts', 'src/core/integrate.ts'],
    ...[
      '--outDir',
      BUILD,
      '--rootDir',
      'src',
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext'
    ],
    ...['--target', 'ES2022', '--types', 'node', '--skipLibCheck', '--esModuleInterop', '--strict']
  ],
  { cwd: ROOT, stdio: 'inherit' }
)
const started = performance.now()
const run = {
  parallel: caseParallel,
  overhead: caseOverhead,
  isolation: caseIsolation,
  merge: caseMerge,
  memory: caseMemory,
  overlay: caseOverlay,
  setup: caseSetup,
  live: caseLive
}
for (const c of CASES) if (SELECTED.includes(c)) await run[c]()
results.totalSeconds = Math.round((performance.now() - started) / 1000)
results.machine.loadAtEnd = os.loadavg()
results.tables = markdown.join('\n')
writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`)
console.log(`\n${results.totalSeconds} s in all; raw figures in ${path.relative(ROOT, opts.out)}`)
