// Issue 14, "dependencies work in run, matrix and CLI": tasks that depend on tasks through the
// bundled CLI (dist/cli/index.js) as a user runs it on a real repository: a chain whose last
// agent checks it sees the earlier tasks' files, a failed dependency (the chain in the report),
// a cycle (a usage error before anything starts), and a retry that makes the dependents run again.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
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

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await execFileAsync(nodeBinary(), [CLI, ...args], { env })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

interface JsonTask {
  id: string
  status: string
  reason?: string
  reused?: boolean
}
const tasksOf = (run: CliRun): JsonTask[] => (JSON.parse(run.stdout) as { tasks: JsonTask[] }).tasks
const statuses = (run: CliRun): [string, string][] => tasksOf(run).map((t) => [t.id, t.status])

// T1 → T2 → T3: T2 with `(after T1)`, T3 with a nested `depends on:` line.
const CHAIN = [
  '- [ ] T1: Add the model',
  '- [ ] T2: Add the store (after T1)',
  '- [ ] T3: Add the endpoint',
  '      depends on: T2',
  ''
].join('\n')

// Each task writes its own file; T2 and T3 check (in bash) that they see the files of the tasks
// before them and exit 5 naming what is missing. Every start is counted in $SCRATCH/<id>.runs.
const AGENT = [
  'echo x >> "$SCRATCH/$TASK_ID.runs"',
  'need() { for f in "$@"; do test -f "$f" || { echo "$TASK_ID cannot see $f" >&2; exit 5; }; done; }',
  'case "$TASK_ID" in T2) need t1.txt ;; T3) need t1.txt t2.txt ;; esac',
  'echo "$TASK_ID $(date +%s%N)" > "$(echo "$TASK_ID" | tr T t).txt"'
].join('\n')

async function project(list: string) {
  const origin = await createOrigin({ 'README.md': '# x\n' })
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const scratch = await tempDir('cli-deps-scratch')
  const env = { ...isolatedGitEnv(origin.home), SCRATCH: scratch }
  const dir = await tempDir('cli-deps')
  const issueFile = path.join(dir, 'tasks.md')
  await writeFile(issueFile, `# Build in steps\n\n${list}`)
  const args = (agent: string, ...more: string[]): string[] => [
    '--issue-file',
    issueFile,
    '--agent',
    agent,
    '--repo',
    repo,
    '--work-dir',
    path.join(dir, 'work'),
    ...more
  ]
  const runs = async (id: string): Promise<number> =>
    (await readFile(path.join(scratch, `${id}.runs`), 'utf8').catch(() => '')).split('\n').length -
    1
  const branches = async (): Promise<string> =>
    git(repo, ['for-each-ref', '--format=%(refname:short)', 'refs/heads/fanout/'], env)
  return { repo, env, args, runs, branches }
}

describe('tasks that depend on tasks, through the CLI', () => {
  it('a chain T1 → T2 → T3: each starts from the work before it; all merge; retry T1 runs T2 and T3 again', async () => {
    const p = await project(CHAIN)
    const run = await cli(['run', ...p.args(AGENT, '--json')], p.env)
    expect(run.stderr).not.toContain('cannot see')
    expect(statuses(run)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect(run.code).toBe(0)
    const integration = 'fanout/issue-1/integration'
    expect(await git(p.repo, ['ls-tree', '--name-only', integration], p.env)).toBe(
      'README.md\nt1.txt\nt2.txt\nt3.txt'
    )
    // T3's branch holds T1's and T2's work: it was started on top of them.
    expect(await git(p.repo, ['ls-tree', '--name-only', 'fanout/issue-1/T3'], p.env)).toBe(
      'README.md\nt1.txt\nt2.txt\nt3.txt'
    )

    // retry T1: T1 runs again, and so do the tasks built on it, on top of its new work.
    const t1Before = await git(p.repo, ['show', `${integration}:t1.txt`], p.env)
    const retry = await cli(['retry', 'T1', ...p.args(AGENT, '--json')], p.env)
    expect(retry.stderr).not.toContain('cannot see')
    expect(statuses(retry)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect(tasksOf(retry).map((t) => t.reused ?? false)).toEqual([false, false, false])
    expect([await p.runs('T1'), await p.runs('T2'), await p.runs('T3')]).toEqual([2, 2, 2])
    const t1After = await git(p.repo, ['show', `${integration}:t1.txt`], p.env)
    expect(t1After).not.toBe(t1Before)
    // T3's branch was rebuilt on T1's new work.
    expect(await git(p.repo, ['show', 'fanout/issue-1/T3:t1.txt'], p.env)).toBe(t1After)
  })

  it('a failed dependency: T2 and T3 are skipped with the chain, in the terminal report and --json', async () => {
    const p = await project(CHAIN)
    const failing = AGENT.replace('case', 'if [ "$TASK_ID" = T1 ]; then exit 1; fi\ncase')
    const json = await cli(['run', ...p.args(failing, '--json')], p.env)
    expect(json.code).toBe(1)
    expect(tasksOf(json).map((t) => [t.id, t.status, t.reason ?? ''])).toEqual([
      ['T1', 'failed', expect.any(String)],
      ['T2', 'skipped', expect.stringContaining('T1 failed')],
      ['T3', 'skipped', expect.stringContaining('T2 skipped (T1 failed)')]
    ])
    // Neither dependent's agent started.
    expect([await p.runs('T1'), await p.runs('T2'), await p.runs('T3')]).toEqual([1, 0, 0])

    const terminal = await cli(['run', ...p.args(failing, '--issue-number', '2')], p.env)
    expect(terminal.code).toBe(1)
    expect(terminal.stdout).toMatch(/^ {2}T2 +- skipped .* Add the store \(after T1\)$/m)
    expect(terminal.stdout).toMatch(/^ {2}T3 +- skipped .* Add the endpoint \(after T2\)$/m)
    expect(terminal.stdout).toContain('Skipped:\n  T2: T1 failed\n  T3: T2 skipped (T1 failed)\n')
  })

  it('a cycle is a one-line usage error naming the tasks, before anything starts', async () => {
    const p = await project('- [ ] T1: one (after T3)\n- [ ] T2: two\n- [ ] T3: three (after T1)\n')
    const run = await cli(['run', ...p.args(AGENT)], p.env)
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toContain('Tasks depend on each other in a cycle: T1 → T3 → T1.')
    // No agent ran (not even the independent T2) and no branch was made.
    expect([await p.runs('T1'), await p.runs('T2'), await p.runs('T3')]).toEqual([0, 0, 0])
    expect(await p.branches()).toBe('')
  })
})
