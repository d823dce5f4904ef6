// Issue 14, "the CLI is a full second front door": the bundled CLI (dist/cli/index.js), run as a
// user runs it on real repositories, takes the action's options with the same meaning, reuses
// finished work across runs with its state in the repository, has retry/drop/status/clean,
// prints a terminal report (or only JSON on stdout), refuses bad arguments with exit 2, warns
// about uncommitted changes, and reads `- [ ] #123` items from GitHub (the local stand-in).
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { FakeGitHub } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
const execFileAsync = promisify(execFile)
afterAll(removeTempDirs)

interface CliRun {
  code: number
  stdout: string
  stderr: string
}

async function cli(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<CliRun> {
  try {
    const { stdout, stderr } = await execFileAsync(nodeBinary(), [CLI, ...args], { env, cwd })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

interface JsonTask {
  id: string
  status: string
  reused?: boolean
  reason?: string
  branch: string
}
const tasksOf = (run: CliRun): [string, string][] =>
  (JSON.parse(run.stdout) as { tasks: JsonTask[] }).tasks.map((t) => [t.id, t.status])

/**
 * A local repository, a task list and a scratch dir; the agent counts its starts per task in
 * scratch/<id>.runs, so a test can tell a reused task from one whose agent ran again.
 */
async function project(list: string, files: Record<string, string> = { 'README.md': '# x\n' }) {
  const origin = await createOrigin(files)
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const env = { ...isolatedGitEnv(origin.home) }
  const dir = await tempDir('cli-front')
  const issueFile = path.join(dir, 'tasks.md')
  await writeFile(issueFile, `# Local issue\n\n${list}`)
  const scratch = await tempDir('cli-front-scratch')
  const workDir = path.join(dir, 'work')
  const count = `echo x >> "${scratch}/$TASK_ID.runs"; `
  const args = (agent: string, ...more: string[]): string[] => [
    '--issue-file',
    issueFile,
    '--agent',
    count + agent,
    '--repo',
    repo,
    '--work-dir',
    workDir,
    ...more
  ]
  const runs = async (id: string): Promise<number> =>
    (await readFile(path.join(scratch, `${id}.runs`), 'utf8').catch(() => '')).split('\n').length -
    1
  return { origin, repo, env, issueFile, scratch, workDir, args, runs }
}

describe('the CLI takes the action options, with the same meaning and defaults', () => {
  it('--conflict-strategy rerun --max-reruns 1: a conflicting task runs again on the merged result and merges', async () => {
    const p = await project('- [ ] T1: one\n- [ ] T2: two\n', { 'notes.txt': 'base\n' })
    const agent = 'echo "$TASK_ID" >> notes.txt'
    // The default (report): T2 conflicts with T1 and the exit status says so.
    const plain = await cli(['run', ...p.args(agent, '--json')], p.env)
    expect(tasksOf(plain)).toEqual([
      ['T1', 'merged'],
      ['T2', 'conflicted']
    ])
    expect(plain.code).toBe(1)
    const rerun = await cli(
      [
        'run',
        ...p.args(agent, '--json', '--issue-number', '2'),
        '--conflict-strategy',
        'rerun',
        '--max-reruns',
        '1'
      ],
      p.env
    )
    expect(tasksOf(rerun)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged-after-rerun']
    ])
    expect(rerun.code).toBe(0)
    expect(await git(p.repo, ['show', 'fanout/issue-2/integration:notes.txt'], p.env)).toBe(
      'base\nT1\nT2'
    )
  })

  it('--verify-command with --verify each takes a task out that breaks it; --fail-on decides the exit status', async () => {
    const p = await project('- [ ] T1: fine\n- [ ] T2: breaks\n')
    const agent = 'echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T2 ]; then touch bad; fi'
    const verify = ['--verify-command', '! test -e bad', '--verify', 'each']
    const run = await cli(['run', ...p.args(agent, '--json'), ...verify], p.env)
    expect(tasksOf(run)).toEqual([
      ['T1', 'merged'],
      ['T2', 'broke-verify']
    ])
    expect(run.code).toBe(0) // broke-verify is not in the default fail-on (failed,conflicted)
    expect(await git(p.repo, ['ls-tree', '--name-only', 'fanout/issue-1/integration'], p.env)).toBe(
      'README.md\nT1.txt'
    )
    const strict = await cli(
      [
        'run',
        ...p.args(agent, '--json', '--issue-number', '2', '--fail-on', 'broke-verify'),
        ...verify
      ],
      p.env
    )
    expect(tasksOf(strict)).toEqual(tasksOf(run))
    expect(strict.code).toBe(1)
  })

  it('--task-timeout-minutes ends one agent; --timeout-minutes ends the whole run', async () => {
    const p = await project('- [ ] T1: quick\n- [ ] T2: slow\n')
    const agent = 'echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T2 ]; then sleep 60; fi'
    const one = await cli(
      ['run', ...p.args(agent, '--json', '--task-timeout-minutes', '0.05')],
      p.env
    )
    const t2 = (JSON.parse(one.stdout) as { tasks: JsonTask[] }).tasks[1]
    expect([t2.status, t2.reason]).toEqual(['failed', expect.stringMatching(/timed out|time/)])
    const all = await cli(
      ['run', ...p.args(agent, '--json', '--issue-number', '2', '--timeout-minutes', '0.05')],
      p.env
    )
    expect(tasksOf(all)).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed']
    ])
    expect(all.code).toBe(1)
  })
})

describe('running the same issue file again', () => {
  it('reuses finished work as the action does, with the state in a ref of the repository', async () => {
    const p = await project('- [ ] T1: first\n- [ ] T2: second\n')
    // T2 fails the first time only.
    const agent = `echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T2 ] && [ ! -e "${'$'}SCRATCH_DIR/t2-once" ]; then touch "${'$'}SCRATCH_DIR/t2-once"; exit 3; fi`
    const env = { ...p.env, SCRATCH_DIR: p.scratch }
    const first = await cli(['run', ...p.args(agent, '--json')], env)
    expect(tasksOf(first)).toEqual([
      ['T1', 'merged'],
      ['T2', 'failed']
    ])
    const ref = await git(
      p.repo,
      ['for-each-ref', '--format=%(refname)', 'refs/agent-fanout/'],
      p.env
    )
    expect(ref).toBe('refs/agent-fanout/fanout%2Fissue-1')

    const second = await cli(['run', ...p.args(agent, '--json')], env)
    const tasks = (JSON.parse(second.stdout) as { tasks: JsonTask[] }).tasks
    expect(tasks.map((t) => [t.id, t.status, t.reused ?? false])).toEqual([
      ['T1', 'merged', true],
      ['T2', 'merged', false]
    ])
    expect([await p.runs('T1'), await p.runs('T2')]).toEqual([1, 2])
    expect(await git(p.repo, ['ls-tree', '--name-only', 'fanout/issue-1/integration'], p.env)).toBe(
      'README.md\nT1.txt\nT2.txt'
    )

    // A task whose text changed runs again; the other is reused.
    await writeFile(p.issueFile, '# Local issue\n\n- [ ] T1: first, reworded\n- [ ] T2: second\n')
    await cli(['run', ...p.args(agent, '--json')], env)
    expect([await p.runs('T1'), await p.runs('T2')]).toEqual([2, 2])
  })

  it("reads an older CLI's record (.git/agent-fanout/<prefix>.json) once, then keeps the state in the ref", async () => {
    const p = await project('- [ ] T1: first\n')
    const agent = 'echo "$TASK_ID" > "$TASK_ID.txt"'
    await cli(['run', ...p.args(agent)], p.env)
    // What the CLI before issue 14 wrote instead of the ref.
    const ref = 'refs/agent-fanout/fanout%2Fissue-1'
    const state = JSON.parse(
      await git(p.repo, ['cat-file', 'blob', `${ref}:state.json`], p.env)
    ) as {
      tasks: Record<string, { hash: string; status: string; commit: string }>
      integration: unknown
    }
    const legacy = path.join(p.repo, '.git', 'agent-fanout', 'fanout%2Fissue-1.json')
    await mkdir(path.dirname(legacy), { recursive: true })
    const t1 = state.tasks.T1
    await writeFile(
      legacy,
      JSON.stringify({
        version: 1,
        integration: state.integration,
        tasks: {
          T1: {
            hash: t1.hash,
            status: t1.status,
            commit: t1.commit,
            changedFiles: ['T1.txt'],
            durationMs: 5
          }
        }
      })
    )
    await git(p.repo, ['update-ref', '-d', ref], p.env)
    const again = await cli(['run', ...p.args(agent, '--json')], p.env)
    const tasks = (JSON.parse(again.stdout) as { tasks: JsonTask[] }).tasks
    expect(tasks.map((t) => [t.id, t.status, t.reused])).toEqual([['T1', 'merged', true]])
    expect(await p.runs('T1')).toBe(1)
    expect(existsSync(legacy)).toBe(false)
    expect(
      await git(p.repo, ['for-each-ref', '--format=%(refname)', 'refs/agent-fanout/'], p.env)
    ).toBe(ref)
  })

  it('retry runs the named task only; drop takes one out; status says where everything is', async () => {
    const p = await project('- [ ] T1: first\n- [ ] T2: second\n- [ ] T3: third\n')
    const agent = 'echo "$TASK_ID $(cat "$TASK_ID.txt" 2>/dev/null)" > "$TASK_ID.txt"'
    await cli(['run', ...p.args(agent)], p.env)
    const retry = await cli(['retry', 'T2', ...p.args(agent, '--json')], p.env)
    expect(retry.code).toBe(0)
    expect(tasksOf(retry)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect([await p.runs('T1'), await p.runs('T2'), await p.runs('T3')]).toEqual([1, 2, 1])

    const drop = await cli(['drop', 'T3', ...p.args(agent)], p.env)
    expect(drop.code).toBe(0)
    expect(drop.stdout).toMatch(/^ {2}T3 +- skipped/m)
    expect(await git(p.repo, ['ls-tree', '--name-only', 'fanout/issue-1/integration'], p.env)).toBe(
      'README.md\nT1.txt\nT2.txt'
    )
    // Its branch is left alone.
    expect(await git(p.repo, ['show', 'fanout/issue-1/T3:T3.txt'], p.env)).toBe('T3')
    expect(await p.runs('T3')).toBe(1)

    const status = await cli(['status', '--issue-file', p.issueFile, '--repo', p.repo], p.env)
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/^ {2}T1 +✓ merged +at [0-9a-f]{10} as left +first$/m)
    expect(status.stdout).toMatch(/^ {2}T3 +- dropped /m)
    expect(status.stdout).toContain('The next run reuses T1, T2; leaves out T3.')
    const json = JSON.parse((await cli(['status', '--repo', p.repo, '--json'], p.env)).stdout) as {
      tasks: { id: string; status: string }[]
    }
    expect(json.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'dropped']
    ])

    // retry brings a dropped task back.
    const back = await cli(['retry', 'T3', ...p.args(agent, '--json')], p.env)
    expect(tasksOf(back).map(([, s]) => s)).toEqual(['merged', 'merged', 'merged'])
  })

  it('clean removes the worktrees, branches and state a run left, and says what it removed', async () => {
    const p = await project('- [ ] T1: first\n- [ ] T2: second\n')
    await cli(['run', ...p.args('echo "$TASK_ID" > "$TASK_ID.txt"')], p.env)
    // A run killed outright leaves its worktrees behind.
    await git(
      p.repo,
      ['worktree', 'add', '-q', '--detach', path.join(p.workDir, 'worktrees', 'left-over')],
      p.env
    )
    // A person's own worktree elsewhere, on a branch of the run, is theirs: kept.
    const mine = path.join(await tempDir('cli-mine'), 'mine')
    await git(p.repo, ['worktree', 'add', '-q', mine, 'fanout/issue-1/T2'], p.env)
    const t1 = await git(p.repo, ['rev-parse', 'fanout/issue-1/T1'], p.env)

    const clean = await cli(['clean', '--repo', p.repo], p.env)
    expect(clean.code).toBe(0)
    expect(clean.stdout).toContain(
      `removed worktree ${path.join(p.workDir, 'worktrees', 'left-over')}`
    )
    expect(clean.stdout).toContain(`deleted branch fanout/issue-1/T1 (was ${t1.slice(0, 12)})`)
    expect(clean.stdout).toContain('deleted branch fanout/issue-1/integration (was ')
    expect(clean.stdout).toContain(`kept branch fanout/issue-1/T2: checked out in ${mine}`)
    expect(clean.stdout).toContain(
      'deleted the recorded state (refs/agent-fanout/fanout%2Fissue-1)'
    )
    expect(
      await git(p.repo, ['branch', '--list', 'fanout/*', '--format=%(refname:short)'], p.env)
    ).toBe('fanout/issue-1/T2')
    expect(await git(p.repo, ['for-each-ref', 'refs/agent-fanout/'], p.env)).toBe('')
    expect(existsSync(mine)).toBe(true)
    expect(existsSync(p.workDir)).toBe(false)
    const again = await cli(['clean', '--repo', p.repo], p.env)
    expect(again.stdout).toBe('kept branch fanout/issue-1/T2: checked out in ' + mine + '\n')
  })
})

describe('what the CLI prints', () => {
  it('--json | jq: stdout is the JSON alone, progress and warnings go to stderr', async () => {
    const p = await project('- [ ] T1: first\n- [ ] #5\n')
    await writeFile(path.join(p.repo, 'README.md'), 'edited, not committed\n')
    const jq = await execFileAsync(
      'bash',
      [
        '-c',
        '"$@" | jq -r ".tasks[] | .id + \\" \\" + .status"; exit "${PIPESTATUS[0]}"',
        'cli',
        nodeBinary(),
        CLI,
        'run',
        ...p.args('cat README.md > "$TASK_ID.txt"', '--json')
      ],
      { env: p.env }
    ).catch((e: { code: number; stdout: string; stderr: string }) => e)
    expect(jq.stdout).toBe('T1 merged\nT2 skipped\n')
    expect(jq.stderr).toContain(
      'warning: the working tree has 1 uncommitted change: agents start from the committed main'
    )
    expect(jq.stderr).toContain('T2 refers to #5, which was not read: unresolved reference')
    // The agent saw the committed file, not the edit.
    expect(await git(p.repo, ['show', 'fanout/issue-1/T1:T1.txt'], p.env)).toBe('# x')
  })

  it('a terminal report: no markdown, local commands, nothing an agent prints reaches the terminal raw', async () => {
    const p = await project('- [ ] T1: fine\n- [ ] T2: broken\n')
    const agent =
      'if [ "$TASK_ID" = T2 ]; then printf "oops \\033]0;pwned\\007\\033[2Jgone\\n"; exit 4; fi; echo ok > "$TASK_ID.txt"'
    const run = await cli(['run', ...p.args(agent)], p.env)
    expect(run.code).toBe(1)
    expect(run.stdout.split('\n')[0]).toBe('agent-fanout: 1 merged, 1 failed')
    expect(run.stdout).toMatch(/^ {2}T2 +✗ failed /m)
    expect(run.stdout).toContain('    │ oops gone')
    expect(run.stdout).toMatch(/Run it again: agent-fanout retry T2 --issue-file \S+ --agent '/)
    expect(run.stdout).not.toMatch(/\| T1 \||^###|<details>|git fetch|workflow/m)
    // eslint-disable-next-line no-control-regex
    expect(run.stdout + run.stderr).not.toMatch(/[\x07\x1b\x9b]/)
  })
})

describe('progress while it runs (stderr)', () => {
  /**
   * Runs T1 and T2; T2's agent ends only once stderr holds a line matching `release` (so that
   * line came while T2 still ran), or after 30 s with exit 9. Returns the CLI's output.
   */
  async function progressRun(t1: string, release: RegExp) {
    const p = await project('- [ ] T1: quick\n- [ ] T2: slow\n')
    const agent = `echo "$TASK_ID" > "$TASK_ID.txt"; if [ "$TASK_ID" = T1 ]; then ${t1}; fi; if [ "$TASK_ID" = T2 ]; then for i in $(seq 300); do [ -e "${p.scratch}/go" ] && exit 0; sleep 0.1; done; exit 9; fi`
    const child = spawn(nodeBinary(), [CLI, 'run', ...p.args(agent, '--json')], {
      env: p.env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
      if (release.test(stderr)) void writeFile(path.join(p.scratch, 'go'), '')
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const lines = stderr.trim().split('\n')
    /** Where the line `[done/2 m:ss] text` is (-1: nowhere). */
    const at = (done: number, text: string): number =>
      lines.findIndex((l) => new RegExp(`^\\[${done}/2 \\d+:\\d\\d\\] ${text}`).test(l))
    return { code, tasks: tasksOf({ code: 0, stdout, stderr }), at, stderr }
  }

  it("says which tasks run, done of total and the time, and a task's failure the moment it happens", async () => {
    const run = await progressRun('exit 3', /\] T1 ✗ failed after /)
    expect(run.tasks).toEqual([
      ['T1', 'failed'],
      ['T2', 'merged']
    ])
    expect(run.code).toBe(1)
    const order = [
      run.at(0, '2 tasks to run$'),
      run.at(0, 'T1 started: quick$'),
      run.at(1, 'T1 ✗ failed after \\S+: agent exited with status 3$'),
      run.at(2, 'T2 ✓ done in \\S+, 1 file changed$'),
      run.at(2, 'all agents are done: merging the task branches$'),
      run.at(2, 'finished: 1 failed, 1 merged$')
    ]
    expect(order.every((i) => i >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    expect(run.at(0, 'T2 started: slow$')).toBeGreaterThanOrEqual(0)
  })

  // The engine judges each task's work as its agent ends (run/agents.ts runTask), so a
  // successful task's line comes before the slow task's agent ends.
  it("says a task's success the moment its agent ends", async () => {
    const run = await progressRun('true', /\] T1 ✓ done in /)
    expect(run.tasks).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(run.at(1, 'T1 ✓ done in \\S+, 1 file changed$')).toBeGreaterThanOrEqual(0)
  })
})

describe('strict arguments: a one-line error naming what is wrong, exit 2', () => {
  it.each([
    [['run', '--bogus'], 'unknown flag --bogus'],
    [['run', '--max-parallel', '0'], '--max-parallel must be a whole number from 1 to 64, got "0"'],
    [['run', '--max-parallel', 'many'], '--max-parallel must be a whole number'],
    [
      ['run', '--timeout-minutes', 'soon'],
      '--timeout-minutes must be a positive number, got "soon"'
    ],
    [['run', '--timeout-minutes', '0'], '--timeout-minutes must be a positive number, got "0"'],
    [['run', '--task-timeout-minutes', '0'], '--task-timeout-minutes must be a positive number'],
    [['run', '--fail-on', 'failed,nope'], '--fail-on has an unknown outcome "nope"'],
    [
      ['run', '--conflict-strategy', 'magic'],
      '--conflict-strategy has an unknown strategy "magic"'
    ],
    [['run', '--max-parallel'], '--max-parallel'],
    [['run', 'extra'], 'unexpected argument "extra"'],
    [['retry', '--issue-file', 'x.md', '--agent', 'true'], 'retry needs the IDs of the tasks'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['run', '--base', 'a', '--base-branch', 'b'], '--base-branch and --base mean the same']
  ])('%j', async (args, message) => {
    const home = await tempDir('cli-args')
    const run = await cli(args, isolatedGitEnv(home), home)
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain(message)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('a non-git directory, a base that does not exist, an unknown task to retry', async () => {
    const p = await project('- [ ] T1: first\n')
    const notGit = await tempDir('not-git')
    const cases = [
      [['run', ...p.args('true'), '--repo', notGit], `--repo ${notGit} is not a git repository`],
      [
        ['run', ...p.args('true'), '--base-branch', 'nope'],
        '--base-branch "nope": no branch of that name'
      ],
      [['retry', 'T9', ...p.args('true')], 'no task T9 in the issue file (its tasks: T1)'],
      [
        ['run', ...p.args('true'), '--issue-file', path.join(notGit, 'none.md')],
        'cannot read --issue-file'
      ]
    ] as const
    for (const [args, message] of cases) {
      const run = await cli([...args], p.env)
      expect([run.code, run.stderr.trim().split('\n').length]).toEqual([2, 1])
      expect(run.stderr).toContain(message)
    }
    expect(await p.runs('T1')).toBe(0)
  })

  it('run --help prints the run help on stdout and exits 0; a failed task is exit 1', async () => {
    const help = await cli(['run', '--help'], process.env)
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: agent-fanout run --issue-file/)
    for (const flag of [
      '--conflict-strategy',
      '--max-reruns',
      '--resolve-command',
      '--verify-command',
      '--verify each|final',
      '--task-timeout-minutes',
      '--timeout-minutes',
      '--fail-on',
      '--json'
    ])
      expect(help.stdout).toContain(flag)
    expect((await cli(['help', 'clean'], process.env)).stdout).toMatch(/^Usage: agent-fanout clean/)
    const p = await project('- [ ] T1: fails\n')
    expect((await cli(['run', ...p.args('exit 1')], p.env)).code).toBe(1)
  })
})

describe('`- [ ] #123` in a local issue file', () => {
  it('is read from GitHub with GITHUB_TOKEN and --github-repo: the agent gets that issue as its task', async () => {
    const gh = await FakeGitHub.start({
      owner: 'octo',
      repo: 'things',
      token: 'ghs_localTestToken_0123456789'
    })
    try {
      gh.addIssue({ number: 123, title: 'Add a changelog', body: 'Create CHANGELOG.md.' })
      const p = await project('- [ ] #123\n')
      const run = await cli(
        [
          'run',
          ...p.args(
            'printf "%s|%s" "$TASK_TITLE" "$TASK_BODY" > task.txt',
            '--json',
            '--github-repo',
            'octo/things'
          )
        ],
        { ...p.env, GITHUB_TOKEN: 'ghs_localTestToken_0123456789', GITHUB_API_URL: gh.url }
      )
      expect(tasksOf(run)).toEqual([['T1', 'merged']])
      const seen = await git(p.repo, ['show', 'fanout/issue-1/integration:task.txt'], p.env)
      expect(seen).toMatch(
        /^Add a changelog\|\(from #123: .*\/issues\/123\)\n\nCreate CHANGELOG.md.$/
      )
    } finally {
      await gh.stop()
    }
  })

  it('without a token it is an unresolved reference: skipped with the reason, never run as "#123"', async () => {
    const p = await project('- [ ] T1: real\n- [ ] #123\n')
    const run = await cli(
      ['run', ...p.args('echo "$TASK_TITLE" > "$TASK_ID.txt"', '--json')],
      p.env
    )
    const tasks = (JSON.parse(run.stdout) as { tasks: JsonTask[] }).tasks
    expect(tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'skipped']
    ])
    expect(tasks[1].reason).toContain('refers to #123, which was not read: unresolved reference')
    expect(await p.runs('T2')).toBe(0)
    expect(await readdir(p.scratch)).toEqual(['T1.runs'])
  })
})
