// "Merges are git's merges", through the bundles (dist/cli/index.js, dist/index.js): the base
// is a branch, never a tag of the same name; branches in the way of the run's are refused
// before any agent starts; merge drivers follow the base's .gitattributes, not the checkout's.
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  cloneWorkspace,
  commitToOrigin,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import {
  act,
  INTEGRATION,
  originBranches,
  PREFIX,
  statusComments,
  tasksOutput,
  useCleanup,
  world
} from '../adversarial/support.js'

useCleanup()

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
const execFileAsync = promisify(execFile)

interface CliRun {
  code: number
  stdout: string
  stderr: string
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await execFileAsync(nodeBinary(), [CLI, 'run', ...args], { env })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** A local repository (a full clone) and a task list; agents leave a marker in `scratch`. */
async function local(files: Record<string, string> = { 'README.md': '# x\n' }) {
  const origin = await createOrigin(files)
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const env = { ...isolatedGitEnv(origin.home) }
  const dir = await tempDir('refs-cli')
  const issueFile = path.join(dir, 'tasks.md')
  await writeFile(issueFile, '# Local issue\n\n- [ ] T1: first\n- [ ] T2: second\n')
  const scratch = await tempDir('refs-cli-scratch')
  const agent =
    'touch "$SCRATCH/ran-$TASK_ID"; echo "$BASE_BRANCH $BASE_SHA $(git rev-parse HEAD)" > "$SCRATCH/base-$TASK_ID"; echo "$TASK_ID" > "$TASK_ID.txt"'
  const args = (...extra: string[]) => [
    '--issue-file',
    issueFile,
    '--agent',
    agent,
    '--repo',
    repo,
    '--work-dir',
    path.join(dir, 'work'),
    '--json',
    ...extra
  ]
  return { origin, repo, env: { ...env, SCRATCH: scratch }, scratch, args }
}

const json = (run: CliRun) =>
  JSON.parse(run.stdout.slice(run.stdout.indexOf('{\n'))) as {
    baseBranch: string
    baseSha: string
    tasks: { id: string; status: string }[]
  }

describe('the base is a branch, never a tag of the same name', () => {
  it('CLI: --base release/1.x (and the checked-out release/1.x) start from the branch, not the tag', async () => {
    const l = await local()
    const tagged = await git(l.repo, ['rev-parse', 'HEAD'], l.env)
    await git(l.repo, ['tag', 'release/1.x', tagged], l.env)
    await git(l.repo, ['checkout', '-q', '-b', 'release/1.x'], l.env)
    await git(l.repo, ['commit', '-q', '--allow-empty', '-m', 'on the branch'], l.env)
    const branch = await git(l.repo, ['rev-parse', 'refs/heads/release/1.x'], l.env)
    await git(l.repo, ['checkout', '-q', 'main'], l.env)

    const given = await cli(l.args('--base', 'release/1.x'), l.env)
    expect(given.stderr).not.toMatch(/warning|error/)
    expect(given.code).toBe(0)
    expect(json(given)).toMatchObject({ baseBranch: 'release/1.x', baseSha: branch })
    expect(await git(l.repo, ['rev-parse', `fanout/issue-1/integration^1^1`], l.env)).toBe(branch)
    const seen = await readFile(path.join(l.scratch, 'base-T1'), 'utf8')
    expect(seen.trim()).toBe(`release/1.x ${branch} ${branch}`)

    // No --base: the branch checked out (git's short name would be heads/release/1.x).
    await git(l.repo, ['checkout', '-q', 'release/1.x'], l.env)
    const current = await cli(l.args('--issue-number', '2'), l.env)
    expect(current.code).toBe(0)
    expect(json(current)).toMatchObject({ baseBranch: 'release/1.x', baseSha: branch })
  })

  it('CLI: a base that is only a tag is refused with its name, before any agent starts', async () => {
    const l = await local()
    await git(l.repo, ['tag', 'v1'], l.env)
    const run = await cli(l.args('--base', 'v1'), l.env)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--base-branch "v1": no branch of that name in')
    expect(run.stderr).toContain('"v1" is a tag there, not a branch')
    expect(existsSync(path.join(l.scratch, 'ran-T1'))).toBe(false)
    const missing = await cli(l.args('--base', 'nope'), l.env)
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--base-branch "nope": no branch of that name in')
  })

  it('action: base-branch release/1.x is the branch on origin, whatever tag shares its name', async () => {
    const w = await world('- [ ] First\n')
    const main = await git(w.origin.bareDir, ['rev-parse', 'refs/heads/main'], w.env)
    await git(w.origin.bareDir, ['tag', 'release/1.x', main], w.env)
    const branch = await commitToOrigin(
      w.origin,
      { 'b.txt': 'b\n' },
      'on the branch',
      'release/1.x'
    )
    const r = await act(w, 'echo "$BASE_SHA" > "$SCRATCH/base"; echo x > x.txt', {
      inputs: { 'base-branch': 'release/1.x' }
    })
    expect(r.exitCode).toBe(0)
    expect(tasksOutput(r).map((t) => t.status)).toEqual(['merged'])
    expect(await git(w.origin.bareDir, ['rev-parse', `${INTEGRATION}^1`], w.env)).toBe(branch)
    expect(w.api.pulls[0].base).toBe('release/1.x')
  })

  it('action: a base-branch that is only a tag on origin fails with its name, no agent started', async () => {
    const w = await world('- [ ] First\n')
    await git(w.origin.bareDir, ['tag', 'v9', 'refs/heads/main'], w.env)
    const r = await act(w, 'touch "$SCRATCH/ran"', { inputs: { 'base-branch': 'v9' } })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain(
      'The base branch "v9" does not exist on origin (it has a tag of that name; the base must be a branch)'
    )
    expect(existsSync(path.join(w.scratch, 'ran'))).toBe(false)
  })
})

describe('branches in the way of the run are refused before any agent starts', () => {
  it('CLI: a branch fanout/issue-1 (or fanout/issue-1/T1/x) is named in one message, exit 2', async () => {
    const l = await local()
    await git(l.repo, ['branch', 'fanout/issue-1'], l.env)
    const run = await cli(l.args(), l.env)
    // A configuration the user fixes before anything ran: a usage error, like a missing branch.
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toContain(
      `the branch fanout/issue-1 in ${l.repo} is in the way of fanout/issue-1/integration, fanout/issue-1/T1, fanout/issue-1/T2`
    )
    expect(run.stderr).toContain('Nothing was started')
    expect(run.stderr).toContain('git branch -m fanout/issue-1 <new name>')
    expect(run.stderr).toContain('--branch-prefix')
    expect(existsSync(path.join(l.scratch, 'ran-T1'))).toBe(false)
    expect(
      await git(l.repo, ['for-each-ref', '--format=%(refname)', 'refs/heads/fanout'], l.env)
    ).toBe('refs/heads/fanout/issue-1')

    await git(l.repo, ['branch', '-D', 'fanout/issue-1'], l.env)
    await git(l.repo, ['branch', 'fanout/issue-1/T2/old'], l.env)
    const below = await cli(l.args(), l.env)
    expect(below.code).toBe(2)
    expect(below.stderr).toContain(
      `the branch fanout/issue-1/T2/old in ${l.repo} is in the way of fanout/issue-1/T2`
    )
    expect(existsSync(path.join(l.scratch, 'ran-T1'))).toBe(false)

    // With another prefix the same run goes through.
    const moved = await cli(l.args('--branch-prefix', 'agents/one'), l.env)
    expect(moved.code).toBe(0)
    expect(json(moved).tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
  })

  it('action: a branch fanout/issue-12 on origin fails the run before agents, said on the issue, nothing merged or pushed', async () => {
    const w = await world('- [ ] First\n- [ ] Second\n')
    await commitToOrigin(w.origin, { 'x.txt': 'x\n' }, 'someone else', PREFIX)
    const before = await originBranches(w)
    const r = await act(w, 'touch "$SCRATCH/ran-$TASK_ID"; echo x > "$TASK_ID.txt"')
    expect(r.exitCode).toBe(1)
    const message = `the branch \`${PREFIX}\` on origin is in the way of \`${INTEGRATION}\`, \`${PREFIX}/T1\`, \`${PREFIX}/T2\``
    expect(r.errors.join('\n')).toContain(message)
    expect(r.errors.join('\n')).toContain(`\`git push origin --delete ${PREFIX}\``)
    const comments = statusComments(w)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain(message)
    expect(comments[0].body).not.toMatch(/merged/)
    expect(tasksOutput(r).filter((t) => t.status === 'merged')).toEqual([])
    expect(existsSync(path.join(w.scratch, 'ran-T1'))).toBe(false)
    expect(await originBranches(w)).toEqual(before)
    expect(w.api.pulls).toHaveLength(0)
  })

  it('action, matrix plan job: a branch below a task branch on origin is refused before any task job is planned', async () => {
    const w = await world('- [ ] First\n- [ ] Second\n')
    await commitToOrigin(w.origin, { 'x.txt': 'x\n' }, 'old work', `${PREFIX}/T2/old`)
    const r = await act(w, '', { inputs: { mode: 'plan' } })
    expect(r.exitCode).toBe(1)
    const message = `the branch \`${PREFIX}/T2/old\` on origin is in the way of \`${PREFIX}/T2\``
    expect(r.errors.join('\n')).toContain(message)
    expect(r.outputs.matrix).toBeUndefined()
    const comments = statusComments(w)
    expect(comments).toHaveLength(1)
    expect(comments[0].body).toContain(message)
    expect(comments[0].body).not.toContain('queued')
  })
})

describe('merge drivers follow the base, through the CLI', () => {
  it('--base main with merge=union merges both edits of one line while another branch is checked out', async () => {
    const l = await local({
      'notes.txt': 'one\ntwo\nthree\n',
      '.gitattributes': '*.txt merge=union\n'
    })
    await git(l.repo, ['checkout', '-q', '-b', 'other'], l.env)
    await git(l.repo, ['rm', '-q', '.gitattributes'], l.env)
    await git(l.repo, ['commit', '-q', '-m', 'no attributes here'], l.env)
    const agent = `printf 'one\\ntwo by %s\\nthree\\n' "$TASK_ID" > notes.txt`
    const args = l.args('--base', 'main')
    args[args.indexOf('--agent') + 1] = agent
    const run = await cli(args, l.env)
    expect(run.code).toBe(0)
    expect(json(run).tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    // Plain git merge --no-ff of both branches on main, in a checkout of main.
    const dir = path.join(await tempDir('refs-reference'), 'main')
    await git(l.repo, ['worktree', 'add', '-q', dir, 'main'], l.env)
    for (const id of ['T1', 'T2'])
      await git(dir, ['merge', '--no-ff', '-q', '-m', id, `fanout/issue-1/${id}`], l.env)
    expect(await git(l.repo, ['rev-parse', 'fanout/issue-1/integration^{tree}'], l.env)).toBe(
      await git(dir, ['rev-parse', 'HEAD^{tree}'], l.env)
    )
    expect(await git(dir, ['show', 'HEAD:notes.txt'], l.env)).toBe(
      'one\ntwo by T1\ntwo by T2\nthree'
    )
  })
})
