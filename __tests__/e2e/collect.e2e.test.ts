// Issue 13, through the bundles: what an agent leaves is judged before it is committed, the
// action's commands address only the task's worktree and branch, checked-out branches are never
// moved, and a sibling's maintenance of the shared object store costs no task its work.
// The CLI is dist/cli/index.js, the action dist/index.js; rebuild them with `npm run package`.
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import {
  act,
  INTEGRATION,
  PREFIX,
  showOnOrigin,
  statusComments,
  statuses,
  tasksOutput,
  useCleanup,
  world
} from '../adversarial/support.js'

useCleanup()

const execFileAsync = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
const CLI_PREFIX = 'fanout/issue-4'

async function localRepo() {
  const origin = await createOrigin({ 'shared.txt': 'one\ntwo\nthree\n', 'README.md': '# x\n' })
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const env = isolatedGitEnv(origin.home)
  const dir = await tempDir('cli-collect')
  const issueFile = path.join(dir, 'tasks.md')
  return { repo, env, dir, issueFile }
}
type Local = Awaited<ReturnType<typeof localRepo>>

async function cli(
  l: Local,
  tasks: string,
  agent: string,
  extra: string[] = []
): Promise<{ code: number; stdout: string; stderr: string }> {
  await writeFile(l.issueFile, `# Local issue\n\n${tasks}`)
  const args = ['run', '--issue-file', l.issueFile, '--agent', agent, '--repo', l.repo]
  // A work dir of its own: the default one is named after the repository's folder name and the
  // issue number, which other tests' repositories share.
  if (!extra.includes('--work-dir')) args.push('--work-dir', path.join(l.dir, 'work'))
  return execFileAsync(nodeBinary(), [CLI, ...args, '--issue-number', '4', ...extra], {
    env: { ...l.env, SCRATCH: l.dir },
    maxBuffer: 64 * 1024 * 1024
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e
  )
}

const json = (stdout: string) =>
  JSON.parse(stdout.slice(stdout.indexOf('{\n'))) as {
    tasks: { id: string; status: string; reason?: string; commit?: string }[]
  }

describe('agent-fanout CLI (bundled)', () => {
  it('an unfinished merge and a deleted .git file fail their tasks with the work kept on their branches; a work dir inside the repository gets no commit', async () => {
    const l = await localRepo()
    const mainBefore = await git(l.repo, ['rev-parse', 'main'], l.env)
    const agent = [
      'case "$TASK_ID" in',
      '  T1) git checkout -q -b side; sed -i "s/two/two side/" shared.txt; git commit -qam side',
      '      git checkout -q -; sed -i "s/two/two mine/" shared.txt; git commit -qam mine; git merge -q side ;;',
      '  T2) rm .git; echo lost > lost.txt ;;',
      '  T3) echo fine > T3.txt ;;',
      'esac',
      'exit 0'
    ].join('\n')
    const r = await cli(l, '- [ ] merges\n- [ ] loses .git\n- [ ] fine\n', agent, [
      '--work-dir',
      path.join(l.repo, '.fanout-work')
    ])
    expect(r.code).toBe(1)
    // The report names the state and the branch that keeps the work.
    expect(r.stdout).toContain(
      `left a merge in progress; left unmerged files: shared.txt. Nothing of it was merged; its branch ${CLI_PREFIX}/T1 keeps the work as the agent left it`
    )
    expect(r.stdout).toContain(
      `deleted its worktree's .git file. Nothing of it was merged; its branch ${CLI_PREFIX}/T2 keeps the work`
    )
    expect(await git(l.repo, ['show', `${CLI_PREFIX}/T1:shared.txt`], l.env)).toMatch(/^<<<<<<< /m)
    expect(await git(l.repo, ['show', `${CLI_PREFIX}/T2:lost.txt`], l.env)).toBe('lost')
    const merged = await git(l.repo, ['ls-tree', '--name-only', `${CLI_PREFIX}/integration`], l.env)
    expect(merged.split('\n').sort()).toEqual(['README.md', 'T3.txt', 'shared.txt'])
    // The repository around the work dir: no commit on main, its index untouched.
    expect(await git(l.repo, ['rev-parse', 'main'], l.env)).toBe(mainBefore)
    expect(await git(l.repo, ['status', '--porcelain', '--untracked-files=no'], l.env)).toBe('')
  })

  it('refuses to move the integration branch a person checked out, as git would, and starts nothing', async () => {
    const l = await localRepo()
    const agent = 'touch "$SCRATCH/ran-$TASK_ID-$RANDOM"; echo "$TASK_ID" > "$TASK_ID.txt"'
    expect((await cli(l, '- [ ] one\n', agent)).code).toBe(0)
    const before = await git(l.repo, ['rev-parse', `${CLI_PREFIX}/integration`], l.env)
    // As the conflict report tells people to: switch to the integration branch and work there.
    await git(l.repo, ['switch', '-q', `${CLI_PREFIX}/integration`], l.env)
    const ran = (await readdir(l.dir)).filter((f) => f.startsWith('ran-')).length
    const r = await cli(l, '- [ ] one\n- [ ] two\n', agent)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      `'${CLI_PREFIX}/integration' is already checked out at '${l.repo}'. agent-fanout would have to move that branch under that checkout, so nothing was started.`
    )
    expect((await readdir(l.dir)).filter((f) => f.startsWith('ran-')).length).toBe(ran)
    expect(await git(l.repo, ['rev-parse', `${CLI_PREFIX}/integration`], l.env)).toBe(before)
    expect(await git(l.repo, ['status', '--porcelain'], l.env)).toBe('')
  })

  it('an agent pruning the object store in a loop costs its siblings nothing (2 rounds)', async () => {
    const agent = [
      'if [ "$TASK_ID" = T1 ]; then',
      '  end=$((SECONDS + 3))',
      '  while [ $SECONDS -lt $end ]; do git gc --prune=now --quiet 2>/dev/null; git prune 2>/dev/null; done',
      '  exit 0',
      'fi',
      'for i in 1 2 3 4 5; do echo "$TASK_ID $i $RANDOM" > "$TASK_ID-$i.txt"; git add -A; git commit -qm "$TASK_ID $i"; sleep 0.2; done',
      'echo last > "$TASK_ID-last.txt"'
    ].join('\n')
    for (let round = 1; round <= 2; round++) {
      const l = await localRepo()
      const configBefore = await git(l.repo, ['config', '--list', '--local'], l.env)
      const r = await cli(l, '- [ ] prune\n- [ ] a\n- [ ] b\n- [ ] c\n', agent, ['--json'])
      const tasks = json(r.stdout).tasks
      expect([round, tasks.map((t) => [t.id, t.status, t.reason ?? ''])]).toEqual([
        round,
        [
          ['T1', 'no-changes', 'the agent changed no file'],
          ['T2', 'merged', ''],
          ['T3', 'merged', ''],
          ['T4', 'merged', '']
        ]
      ])
      const files = await git(
        l.repo,
        ['ls-tree', '--name-only', `${CLI_PREFIX}/integration`],
        l.env
      )
      for (const id of ['T2', 'T3', 'T4'])
        for (const f of ['1', '2', '3', '4', '5', 'last'])
          expect(files.split('\n')).toContain(`${id}-${f}.txt`)
      await git(l.repo, ['fsck', '--connectivity-only', '--no-dangling'], l.env)
      // The protection is taken back when the run ends.
      expect(await git(l.repo, ['config', '--list', '--local'], l.env)).toBe(configBefore)
    }
  }, 120_000)
})

describe('the action (bundled)', () => {
  it('a task that left a rebase in progress fails; its branch, pushed, keeps every commit and the worktree as it was left', async () => {
    const w = await world('- [ ] rebases\n- [ ] fine\n')
    const agent = [
      'case "$TASK_ID" in',
      '  T1) base=$(git rev-parse HEAD)',
      '      sed -i "s/two/two A/" src/a.txt; git commit -qam A',
      '      echo b > b.txt; git add b.txt; git commit -qm B',
      '      git checkout -q --detach "$base"; sed -i "s/two/two side/" src/a.txt; git commit -qam side; side=$(git rev-parse HEAD)',
      '      git checkout -q -; git rebase -q "$side" ;;',
      '  T2) echo fine > T2.txt ;;',
      'esac',
      'exit 0'
    ].join('\n')
    const r = await act(w, agent)
    expect(statuses(r)).toEqual([
      ['T1', 'failed'],
      ['T2', 'merged']
    ])
    const t1 = tasksOutput(r)[0]
    expect(t1.reason).toMatch(
      new RegExp(
        `^left a rebase in progress; left unmerged files: src/a\\.txt\\. Nothing of it was merged; its branch ${PREFIX}/T1 keeps the work as the agent left it`
      )
    )
    // On origin: the saved worktree (markers and all) on top of both commits the rebase had
    // not replayed.
    expect(await showOnOrigin(w, `${PREFIX}/T1`, 'src/a.txt')).toMatch(/^<<<<<<< /m)
    const subjects = await git(
      w.origin.bareDir,
      ['log', '--format=%s', `refs/heads/${PREFIX}/T1`],
      w.env
    )
    expect(subjects.split('\n')).toEqual(
      expect.arrayContaining(['T1: unfinished, not merged', 'A', 'B'])
    )
    expect(await showOnOrigin(w, INTEGRATION, 'T2.txt')).toBe('fine')
    await expect(showOnOrigin(w, INTEGRATION, 'b.txt')).rejects.toThrow()
    expect(statusComments(w).at(-1)?.body).toContain(`its branch ${PREFIX}/T1 keeps the work`)
  })
})
