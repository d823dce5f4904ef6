// What an agent leaves behind is judged before it is committed, and one agent cannot cost another
// its work (issue 13): agents that exit in the middle of a merge or rebase, move HEAD, delete their
// worktree's .git, or prune the object store every task shares. Real git, real agents (bash).
import { afterAll, describe, expect, it } from '@jest/globals'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout, type EngineOptions } from '../../src/core/engine.js'
import { Git } from '../../src/core/git/git.js'
import { memoryLogger } from '../../src/core/logger.js'
import { parseTaskList } from '../../src/core/tasks/parse.js'
import type { FanoutResult } from '../../src/core/types.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const PREFIX = 'fanout/issue-7'

async function setup() {
  const origin = await createOrigin({ 'shared.txt': 'one\ntwo\nthree\n', 'README.md': '# x\n' })
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('collect')
  const g = new Git(workspace, { env, identity: { name: 'T', email: 't@test.invalid' } })
  return { workspace, env, scratch, g, baseSha: await g.out(['rev-parse', 'HEAD']) }
}
type Setup = Awaited<ReturnType<typeof setup>>

async function run(
  s: Setup,
  issue: string,
  agent: string,
  extra: Partial<EngineOptions> = {}
): Promise<FanoutResult & { log: string[] }> {
  const logger = memoryLogger()
  const result = await runFanout({
    git: s.g,
    logger,
    issue: { number: 7, title: 'x' },
    tasks: parseTaskList(issue).tasks,
    baseBranch: 'main',
    baseSha: s.baseSha,
    agentCommand: agent,
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 300,
    branchPrefix: PREFIX,
    workDir: path.join(s.scratch, 'work'),
    identity: { name: 'T', email: 't@test.invalid' },
    agentBaseEnv: { ...s.env, SCRATCH: s.scratch },
    secrets: [],
    ...extra
  })
  return { ...result, log: logger.lines }
}

const statuses = (r: FanoutResult): [string, string][] => r.tasks.map((t) => [t.id, t.status])
const byId = (r: FanoutResult, id: string) => r.tasks.find((t) => t.id === id)!

/** Bash for an agent: `$side` is a commit on the base that changes line two of shared.txt. */
const SIDE_COMMIT = [
  'base=$(git rev-parse HEAD)',
  'blob=$(printf "one\\ntwo on the side\\nthree\\n" | git hash-object -w --stdin)',
  'tree=$(printf "100644 blob %s\\tREADME.md\\n100644 blob %s\\tshared.txt\\n" "$(git rev-parse HEAD:README.md)" "$blob" | git mktree)',
  'side=$(git commit-tree "$tree" -p "$base" -m "side")',
  'line() { sed -i "s/^two.*/two $1/" shared.txt; }'
].join('\n')

describe('what an agent leaves behind is judged before it is committed', () => {
  it('a merge, rebase (both backends, interactive too), cherry-pick, revert, am, bisect in progress, or unmerged files fail the task; the work is kept on its branch', async () => {
    const s = await setup()
    const mainBefore = await git(s.workspace, ['rev-parse', 'main'], s.env)
    const agent = [
      SIDE_COMMIT,
      'case "$TASK_ID" in',
      '  T1) line T1; git commit -qam mine; git merge -q "$side" ;;',
      '  T2) line A; git commit -qam A; echo b > b.txt; git add b.txt; git commit -qm B; echo c > c.txt; git add c.txt; git commit -qm C; git rebase -q "$side" ;;',
      '  T3) echo b > b.txt; git add b.txt; git commit -qm B; echo c > c.txt; git add c.txt; git commit -qm C; GIT_SEQUENCE_EDITOR="sed -i 1s/^pick/edit/" git rebase -q -i "$base" ;;',
      '  T4) line A; git commit -qam A; echo b > b.txt; git add b.txt; git commit -qm B; git rebase --apply -q "$side" ;;',
      '  T5) line T5; git commit -qam mine; git cherry-pick "$side" ;;',
      '  T6) line X; git commit -qam X; line Y; git commit -qam Y; git revert --no-edit HEAD~1 ;;',
      '  T7) line T7; git commit -qam mine; git format-patch -1 --stdout "$side" > "$SCRATCH/T7.patch"; git am "$SCRATCH/T7.patch" ;;',
      '  T8) for i in 1 2 3; do echo $i > "bisect-$i.txt"; git add .; git commit -qm "b$i"; done; git bisect start HEAD "$base" ;;',
      '  T9) line stashed; git stash -q; line committed; git commit -qam committed; git stash pop ;;',
      '  T10) echo fine > T10.txt ;;',
      'esac',
      'exit 0'
    ].join('\n')
    const issue = Array.from({ length: 10 }, (_, i) => `- [ ] task ${i + 1}`).join('\n')
    const r = await run(s, issue, agent)
    expect(statuses(r)).toEqual([
      ...Array.from({ length: 9 }, (_, i): [string, string] => [`T${i + 1}`, 'failed']),
      ['T10', 'merged']
    ])
    const states: Record<string, RegExp> = {
      T1: /^left a merge in progress; left unmerged files: shared\.txt\. /,
      T2: /^left a rebase in progress; left unmerged files: shared\.txt\. /,
      T3: /^left a rebase in progress\. /,
      T4: /^left a rebase in progress; left unmerged files: shared\.txt\. /,
      T5: /^left a cherry-pick in progress; left unmerged files: shared\.txt\. /,
      T6: /^left a revert in progress; left unmerged files: shared\.txt\. /,
      T7: /^left a git am in progress\. /,
      T8: /^left a bisect in progress\. /,
      T9: /^left unmerged files: shared\.txt\. /
    }
    const show = (rev: string) => git(s.workspace, ['show', rev], s.env)
    const subjects = async (rev: string) =>
      (await git(s.workspace, ['log', '--format=%s', rev], s.env)).split('\n')
    for (const [id, state] of Object.entries(states)) {
      const task = byId(r, id)
      const branch = `${PREFIX}/${id}`
      expect([id, task.reason]).toEqual([id, expect.stringMatching(state)])
      expect(task.reason).toContain(
        `Nothing of it was merged; its branch ${branch} keeps the work as the agent left it`
      )
      // The branch holds the worktree as it was left, on top of everything the agent committed.
      expect(task.commit).toBe(await git(s.workspace, ['rev-parse', branch], s.env))
      expect((await subjects(branch))[0]).toBe(`${id}: unfinished, not merged`)
    }
    // Conflict markers are saved for a person to see, never merged.
    expect(await show(`${PREFIX}/T1:shared.txt`)).toMatch(/^<<<<<<< /m)
    expect(await subjects(`${PREFIX}/T1^1`)).toContain('mine')
    // Commits an unfinished rebase had not replayed yet are not dropped.
    expect(await subjects(`${PREFIX}/T2`)).toEqual(expect.arrayContaining(['A', 'B', 'C']))
    expect(await subjects(`${PREFIX}/T3`)).toEqual(expect.arrayContaining(['B', 'C']))
    expect(await subjects(`${PREFIX}/T4`)).toEqual(expect.arrayContaining(['A', 'B']))
    expect(await subjects(`${PREFIX}/T8`)).toEqual(expect.arrayContaining(['b1', 'b2', 'b3']))
    expect(await subjects(`${PREFIX}/T9`)).toContain('committed')
    // Only the finished task is merged; the base branch did not move.
    const merged = await git(
      s.workspace,
      ['ls-tree', '-r', '--name-only', `${PREFIX}/integration`],
      s.env
    )
    expect(merged.split('\n').sort()).toEqual(['README.md', 'T10.txt', 'shared.txt'])
    expect(await show(`${PREFIX}/integration:shared.txt`)).toBe('one\ntwo\nthree')
    expect(await git(s.workspace, ['rev-parse', 'main'], s.env)).toBe(mainBefore)
  }, 120_000)
})

describe("the action's git commands address the task's own worktree and branch", () => {
  it("an agent that checks out the base branch or a sibling's, or deletes or rewrites its .git file, fails; no other branch moves, nothing is committed into the repository around the work dir", async () => {
    const s = await setup()
    // The work dir lies inside the repository itself: a worktree without its .git file is then a
    // plain directory of that repository to any git run in it.
    const workDir = path.join(s.workspace, 'fanout-work')
    const refsBefore = await git(
      s.workspace,
      ['for-each-ref', '--format=%(refname) %(objectname)'],
      s.env
    )
    const agent = [
      'case "$TASK_ID" in',
      '  T1) git checkout -q --ignore-other-worktrees main; echo on-main > main.txt ;;',
      '  T2) until git rev-parse -q --verify refs/heads/fanout/issue-7/T3 >/dev/null; do sleep 0.05; done',
      '      git checkout -q --ignore-other-worktrees fanout/issue-7/T3; echo stolen > stolen.txt ;;',
      '  T3) sleep 1; echo mine > T3.txt ;;',
      '  T4) rm .git; echo lost > nogit.txt ;;',
      '  T5) echo "gitdir: $(git rev-parse --path-format=absolute --git-common-dir)" > .git; echo x > rewritten.txt ;;',
      '  T6) echo fine > T6.txt ;;',
      '  T7) echo a > a.txt; git add a.txt; git commit -qm "before leaving"; cd /; rm -rf "$TASK_WORKTREE" ;;',
      'esac'
    ].join('\n')
    const issue = Array.from({ length: 7 }, (_, i) => `- [ ] task ${i + 1}`).join('\n')
    const r = await run(s, issue, agent, { workDir, maxParallel: 7 })
    expect(statuses(r)).toEqual([
      ['T1', 'failed'],
      ['T2', 'failed'],
      ['T3', 'merged'],
      ['T4', 'failed'],
      ['T5', 'failed'],
      ['T6', 'merged'],
      ['T7', 'failed']
    ])
    const kept = (id: string) =>
      `Nothing of it was merged; its branch ${PREFIX}/${id} keeps the work as the agent left it`
    expect(byId(r, 'T1').reason).toMatch(
      /^switched its worktree to branch main \(the base branch\), not its task branch fanout\/issue-7\/T1\. /
    )
    expect(byId(r, 'T2').reason).toMatch(
      /^switched its worktree to branch fanout\/issue-7\/T3 \(another task's branch\), not its task branch fanout\/issue-7\/T2\. /
    )
    expect(byId(r, 'T4').reason).toMatch(/^deleted its worktree's \.git file\. /)
    expect(byId(r, 'T5').reason).toMatch(/^rewrote its worktree's \.git file\. /)
    expect(byId(r, 'T7').reason).toMatch(
      /^removed its worktree directory; its branch fanout\/issue-7\/T7 keeps what the agent committed \([0-9a-f]{12}\)$/
    )
    expect(await git(s.workspace, ['show', `${PREFIX}/T7:a.txt`], s.env)).toBe('a')
    for (const id of ['T1', 'T2', 'T4', 'T5']) expect(byId(r, id).reason).toContain(kept(id))
    const show = (rev: string) => git(s.workspace, ['show', rev], s.env)
    expect(await show(`${PREFIX}/T1:main.txt`)).toBe('on-main')
    expect(await show(`${PREFIX}/T4:nogit.txt`)).toBe('lost')
    expect(await show(`${PREFIX}/T5:rewritten.txt`)).toBe('x')
    // The sibling's branch holds its own work only.
    const t3 = await git(s.workspace, ['ls-tree', '--name-only', `${PREFIX}/T3`], s.env)
    expect(t3.split('\n').sort()).toEqual(['README.md', 'T3.txt', 'shared.txt'])
    const merged = await git(
      s.workspace,
      ['ls-tree', '--name-only', `${PREFIX}/integration`],
      s.env
    )
    expect(merged.split('\n').sort()).toEqual(['README.md', 'T3.txt', 'T6.txt', 'shared.txt'])
    // Every ref other than the run's task and integration branches is where it was, and the
    // repository's own checkout (its index and HEAD) was not touched.
    const refsAfter = await git(
      s.workspace,
      ['for-each-ref', '--format=%(refname) %(objectname)'],
      s.env
    )
    const notOurs = (refs: string) =>
      refs.split('\n').filter((l) => !l.startsWith(`refs/heads/${PREFIX}/`))
    expect(notOurs(refsAfter)).toEqual(notOurs(refsBefore))
    expect(await git(s.workspace, ['symbolic-ref', 'HEAD'], s.env)).toBe('refs/heads/main')
    expect(await git(s.workspace, ['status', '--porcelain', '--untracked-files=no'], s.env)).toBe(
      ''
    )
  }, 120_000)

  it("a verify command that deletes its worktree's .git never turns the action's checkout onto the repository around the work dir", async () => {
    const s = await setup()
    const workDir = path.join(s.workspace, 'fanout-work')
    // Something of the user's that a stray `git clean -fd` or `checkout --force` would destroy.
    await writeFile(path.join(s.workspace, 'user-notes.txt'), 'mine, not committed\n')
    await writeFile(path.join(s.workspace, 'README.md'), '# edited by the user, not committed\n')
    const r = await run(s, '- [ ] one\n- [ ] two\n- [ ] three\n', 'echo x > "$TASK_ID.txt"', {
      workDir,
      verify: { command: 'rm -f .git', mode: 'each' }
    })
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect(await git(s.workspace, ['symbolic-ref', 'HEAD'], s.env)).toBe('refs/heads/main')
    expect(await git(s.workspace, ['rev-parse', 'HEAD'], s.env)).toBe(s.baseSha)
    expect(await readFile(path.join(s.workspace, 'user-notes.txt'), 'utf8')).toBe(
      'mine, not committed\n'
    )
    expect(await readFile(path.join(s.workspace, 'README.md'), 'utf8')).toBe(
      '# edited by the user, not committed\n'
    )
  })
})

describe('a branch checked out in any worktree is never moved', () => {
  it('refuses, as git would, a run whose integration or task branch is checked out elsewhere; nothing starts, nothing moves', async () => {
    const s = await setup()
    const configBefore = await readFile(path.join(s.workspace, '.git', 'config'), 'utf8')
    // A person follows the conflict report: the integration branch in a worktree of their own,
    // a task branch checked out in the repository itself.
    await git(s.workspace, ['branch', `${PREFIX}/integration`], s.env)
    const elsewhere = path.join(await tempDir('elsewhere'), 'wt')
    await git(s.workspace, ['worktree', 'add', '-q', elsewhere, `${PREFIX}/integration`], s.env)
    await git(s.workspace, ['checkout', '-q', '-b', `${PREFIX}/T2`], s.env)
    const agent = 'touch "$SCRATCH/ran-$TASK_ID"; echo x > "$TASK_ID.txt"'
    await expect(run(s, '- [ ] one\n- [ ] two\n', agent)).rejects.toThrow(
      `'${PREFIX}/integration' is already checked out at '${elsewhere}'; '${PREFIX}/T2' is already checked out at '${s.workspace}'.`
    )
    expect(await readdir(s.scratch)).not.toContain('ran-T1')
    expect(await git(s.workspace, ['rev-parse', `${PREFIX}/integration`], s.env)).toBe(s.baseSha)
    expect(await git(s.workspace, ['rev-parse', `${PREFIX}/T2`], s.env)).toBe(s.baseSha)
    expect(await readFile(path.join(s.workspace, '.git', 'config'), 'utf8')).toBe(configBefore)

    // Once the person switches away, the run goes ahead.
    await git(elsewhere, ['switch', '-q', '--detach'], s.env)
    await git(s.workspace, ['switch', '-q', 'main'], s.env)
    const r = await run(s, '- [ ] one\n- [ ] two\n', agent)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
  })
})

describe('one agent cannot cost another its work', () => {
  it('an agent pruning the shared object store in a loop costs its three siblings nothing (5 rounds)', async () => {
    // T1 runs git's destructive maintenance for as long as its siblings work; T2-T4 write several
    // files, commit some of them themselves and leave the rest for the action to commit.
    const agent = [
      'if [ "$TASK_ID" = T1 ]; then',
      '  end=$((SECONDS + 4))',
      '  while [ $SECONDS -lt $end ]; do git gc --prune=now --quiet 2>/dev/null; git prune 2>/dev/null; git repack -a -d -q 2>/dev/null; done',
      '  exit 0',
      'fi',
      'sleep 0.3',
      'for i in 1 2 3 4 5 6; do',
      '  echo "$TASK_ID file $i $RANDOM" > "$TASK_ID-$i.txt"',
      '  git add "$TASK_ID-$i.txt"; git commit -q -m "$TASK_ID $i"',
      '  sleep 0.2',
      'done',
      'for i in 7 8 9; do echo "$TASK_ID file $i" > "$TASK_ID-$i.txt"; done',
      'mkdir -p "dir-$TASK_ID"; echo nested > "dir-$TASK_ID/n.txt"',
      'exit 0'
    ].join('\n')
    const issue = '- [ ] maintenance\n- [ ] first\n- [ ] second\n- [ ] third\n'
    for (let round = 1; round <= 5; round++) {
      const s = await setup()
      const config = path.join(s.workspace, '.git', 'config')
      const configBefore = await readFile(config, 'utf8')
      const r = await run(s, issue, agent)
      const context = `round ${round}: ${JSON.stringify(r.tasks.map((t) => [t.id, t.status, t.reason]))}`
      expect([context, statuses(r).slice(1)]).toEqual([
        context,
        [
          ['T2', 'merged'],
          ['T3', 'merged'],
          ['T4', 'merged']
        ]
      ])
      const files = (
        await git(s.workspace, ['ls-tree', '-r', '--name-only', `${PREFIX}/integration`], s.env)
      ).split('\n')
      for (const id of ['T2', 'T3', 'T4']) {
        for (let i = 1; i <= 9; i++) expect(files).toContain(`${id}-${i}.txt`)
        expect(files).toContain(`dir-${id}/n.txt`)
      }
      // Every object the result needs is there: git can read the whole history of each branch.
      await git(s.workspace, ['fsck', '--connectivity-only', '--no-dangling'], s.env)
      // The protection lasted as long as the run: the repository's config is as it was.
      expect(await readFile(config, 'utf8')).toBe(configBefore)
    }
  }, 300_000)
  it("a commit that fails because objects the agent had staged are gone is made again from the worktree's files", async () => {
    const s = await setup()
    // T1 stages its files, then their objects vanish, as when a sibling's prune runs between
    // its `git add` and the commit (its index now names blobs the store no longer has).
    const agent = [
      'echo "$TASK_ID one" > "$TASK_ID-a.txt"; mkdir -p sub; echo "$TASK_ID two" > "sub/$TASK_ID-b.txt"',
      // Older than the index, so that git trusts the index for them from now on (not "racy").
      'touch -d "@$(($(date +%s) - 10))" "$TASK_ID-a.txt" "sub/$TASK_ID-b.txt"',
      'git add -A',
      'if [ "$TASK_ID" = T1 ]; then',
      '  objects=$(git rev-parse --git-path objects)',
      '  for f in T1-a.txt sub/T1-b.txt; do h=$(git rev-parse ":$f"); rm "$objects/${h:0:2}/${h:2}"; done',
      'fi'
    ].join('\n')
    const r = await run(s, '- [ ] loses its objects\n- [ ] healthy\n', agent)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(byId(r, 'T1').changedFiles.sort()).toEqual(['T1-a.txt', 'sub/T1-b.txt'])
    expect(await git(s.workspace, ['show', `${PREFIX}/integration:sub/T1-b.txt`], s.env)).toBe(
      'T1 two'
    )
    expect(r.warnings?.join('\n')).toMatch(
      /\[T1\] its commit failed \(.*invalid object.*\); its work was committed again from the files in its worktree/
    )
    await git(s.workspace, ['fsck', '--connectivity-only', '--no-dangling'], s.env)
  })

  it('a task whose work cannot be committed at all keeps its files and its branch', async () => {
    const s = await setup()
    // The object store cannot take one file's content (the directory git would store it in is
    // blocked, as a broken disk would): neither the commit nor a rebuild from the files works.
    const agent = [
      'echo kept > kept.txt; git add kept.txt; git commit -qm "agent commit"',
      'objects=$(git rev-parse --path-format=absolute --git-path objects)',
      'for i in $(seq 1 1000); do c="blocked $i"; h=$(echo "$c" | git hash-object --stdin); [ -e "$objects/${h:0:2}" ] || break; done',
      'echo "$c" > blocked.txt; echo "$objects/${h:0:2}" > "$SCRATCH/blocker"; : > "$objects/${h:0:2}"'
    ].join('\n')
    const r = await run(s, '- [ ] cannot be stored\n', agent)
    await rm((await readFile(path.join(s.scratch, 'blocker'), 'utf8')).trim(), { force: true })
    expect(statuses(r)).toEqual([['T1', 'failed']])
    const reason = byId(r, 'T1').reason ?? ''
    expect(reason).toMatch(
      /^the action could not commit its work: git \S+ failed .*; its branch fanout\/issue-7\/T1 keeps what the agent committed \([0-9a-f]{12}\)$/
    )
    expect(reason).not.toContain('\n')
    const keptAt = /Its files are kept at (\S+);/.exec(reason)?.[1] ?? ''
    expect(keptAt.startsWith(path.join(s.scratch, 'work', 'kept') + path.sep)).toBe(true)
    expect((await readdir(keptAt)).sort()).toEqual([
      'README.md',
      'blocked.txt',
      'kept.txt',
      'shared.txt'
    ])
    expect(await git(s.workspace, ['log', '-1', '--format=%s', `${PREFIX}/T1`], s.env)).toBe(
      'agent commit'
    )
    expect(byId(r, 'T1').commit).toBe(await git(s.workspace, ['rev-parse', `${PREFIX}/T1`], s.env))
  })
})
