// Merge drivers (.gitattributes: merge=union, binary, a custom driver from the repository's
// config) decide merges as `git merge --no-ff` on the base branch would: from the attributes of
// the branch being merged into, never from whatever the workspace has checked out. Each case
// runs the engine on a real repository and compares its integration tree with plain
// `git merge --no-ff` of the same task branches, one after another, in a checkout of the base.
import { afterAll, describe, expect, it } from '@jest/globals'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout, type EngineOptions } from '../src/core/engine.js'
import { Git } from '../src/core/git/git.js'
import { memoryLogger } from '../src/core/logger.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import type { FanoutResult } from '../src/core/types.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const PREFIX = 'fanout/issue-7'
const NOTES = 'one\ntwo\nthree\n'

interface Repo {
  workspace: string
  env: NodeJS.ProcessEnv
  git: Git
  baseSha: string
  scratch: string
}

/**
 * A workspace whose `main` holds `files`; with `checkedOut`, the workspace then has another
 * branch checked out whose .gitattributes differ (the base branch is not what is checked out).
 */
async function repo(
  files: Record<string, string>,
  checkedOut?: { attributes: string | null }
): Promise<Repo> {
  const origin = await createOrigin({ 'notes.txt': NOTES, ...files })
  const workspace = await cloneWorkspace(origin, { depth: 0 })
  const env = isolatedGitEnv(origin.home)
  const baseSha = await git(workspace, ['rev-parse', 'refs/heads/main'], env)
  if (checkedOut) {
    await git(workspace, ['checkout', '-q', '-b', 'other'], env)
    if (checkedOut.attributes === null) await git(workspace, ['rm', '-q', '.gitattributes'], env)
    else await writeFile(path.join(workspace, '.gitattributes'), checkedOut.attributes)
    await git(workspace, ['add', '-A'], env)
    await git(workspace, ['commit', '-q', '-m', 'other attributes'], env)
  }
  const g = new Git(workspace, { env, identity: { name: 'Fanout Test', email: 'f@test.invalid' } })
  return { workspace, env, git: g, baseSha, scratch: await tempDir('attr-scratch') }
}

async function fanout(
  r: Repo,
  issue: string,
  agentCommand: string,
  extra: Partial<EngineOptions> = {}
): Promise<FanoutResult> {
  return runFanout({
    git: r.git,
    logger: memoryLogger(),
    issue: { number: 7, title: 'Attributes' },
    tasks: parseTaskList(issue).tasks,
    baseBranch: 'main',
    baseSha: r.baseSha,
    agentCommand,
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 500,
    branchPrefix: PREFIX,
    workDir: path.join(r.scratch, 'work'),
    identity: { name: 'Fanout Test', email: 'f@test.invalid' },
    agentBaseEnv: { ...r.env, SCRATCH: r.scratch },
    secrets: [],
    ...extra
  })
}

/**
 * `git merge --no-ff` of each branch in turn on a checkout of the base (a worktree of the same
 * repository, so its config and info/attributes are the same); a conflicting merge is aborted
 * and left out, as the engine leaves a conflicting task out. Returns the tree and what merged.
 */
async function sequentialMerge(
  r: Repo,
  branches: string[]
): Promise<{ tree: string; merged: string[] }> {
  const dir = path.join(await tempDir('attr-reference'), 'checkout')
  await git(r.workspace, ['worktree', 'add', '-q', '--detach', dir, r.baseSha], r.env)
  const merged: string[] = []
  for (const branch of branches) {
    try {
      await git(dir, ['merge', '--no-ff', '-q', '-m', `merge ${branch}`, branch], r.env)
      merged.push(branch)
    } catch {
      await git(dir, ['merge', '--abort'], r.env)
    }
  }
  const tree = await git(dir, ['rev-parse', 'HEAD^{tree}'], r.env)
  await git(r.workspace, ['worktree', 'remove', '--force', dir], r.env)
  return { tree, merged }
}

/** The engine's integration tree equals sequential `git merge --no-ff`, task by task. */
async function expectGitsMerge(r: Repo, result: FanoutResult): Promise<string> {
  const produced = result.tasks.filter((t) => t.status === 'merged' || t.status === 'conflicted')
  const reference = await sequentialMerge(
    r,
    produced.map((t) => t.branch)
  )
  expect(result.tasks.filter((t) => t.status === 'merged').map((t) => t.branch)).toEqual(
    reference.merged
  )
  const tree = await git(r.workspace, ['rev-parse', `${PREFIX}/integration^{tree}`], r.env)
  expect(tree).toBe(reference.tree)
  return git(r.workspace, ['show', `${PREFIX}/integration:notes.txt`], r.env)
}

/** Agents that write notes.txt's second line (T-ids listed) and other files as given. */
function agent(lines: Record<string, string>, files: Record<string, Record<string, string>> = {}) {
  const cases = Object.keys({ ...lines, ...files }).map((id) => {
    const steps: string[] = []
    if (lines[id]) steps.push(`printf 'one\\n${lines[id]}\\nthree\\n' > notes.txt`)
    for (const [file, content] of Object.entries(files[id] ?? {}))
      steps.push(`mkdir -p "$(dirname '${file}')"; printf '%s' '${content}' > '${file}'`)
    return `  ${id}) ${steps.join('; ')} ;;`
  })
  return ['case "$TASK_ID" in', ...cases, 'esac'].join('\n')
}

const TWO_EDITS = '- [ ] T1: edit the notes\n- [ ] T2: edit the notes too\n'

describe('merges follow the attributes of the branch merged into', () => {
  it('merge=union on the base applies when the workspace has a branch without it checked out', async () => {
    const r = await repo({ '.gitattributes': '*.txt merge=union\n' }, { attributes: null })
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T1\ntwo by T2\nthree')
  })

  it('a union driver the checked-out branch has does not hide a conflict the base has', async () => {
    const r = await repo({ 'README.md': '# x\n' }, { attributes: '*.txt merge=union\n' })
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'conflicted'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T1\nthree')
  })

  it('binary on the base makes both-sides edits a conflict, whatever is checked out', async () => {
    const r = await repo(
      { '.gitattributes': '*.txt binary\n' },
      { attributes: '*.txt merge=union\n' }
    )
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'conflicted'])
    expect(result.tasks[1].conflict?.files).toEqual(['notes.txt'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T1\nthree')
  })

  it('merge=binary (and info/attributes, which applies everywhere) as git merge sees them', async () => {
    const r = await repo(
      { '.gitattributes': 'notes.txt merge=binary\n' },
      { attributes: '*.txt merge=union\n' }
    )
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'conflicted'])
    await expectGitsMerge(r, result)
    // info/attributes outranks the tree's files, for git merge and the engine alike.
    const again = await repo({ '.gitattributes': 'notes.txt merge=binary\n' }, { attributes: null })
    await writeFile(path.join(again.workspace, '.git', 'info', 'attributes'), '*.txt merge=union\n')
    const unioned = await fanout(again, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(unioned.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    expect(await expectGitsMerge(again, unioned)).toBe('one\ntwo by T1\ntwo by T2\nthree')
  })

  it("a custom driver from the repository's config runs for the base's attributes", async () => {
    const r = await repo({ '.gitattributes': '*.txt merge=both\n' }, { attributes: null })
    // Keeps ours, then theirs, whole: unmistakably this driver's work.
    await git(r.workspace, ['config', 'merge.both.driver', 'cat %B >> %A'], r.env)
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }))
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T1\nthree\none\ntwo by T2\nthree')
  })

  it('attributes an earlier task adds apply to the merges after it (merged in memory and by git)', async () => {
    const r = await repo({ 'README.md': '# x\n' })
    const issue =
      '- [ ] T1: add attributes\n- [ ] T2: edit the notes\n- [ ] T3: edit the notes too\n- [ ] T4: and again\n'
    const result = await fanout(
      r,
      issue,
      agent(
        { T2: 'two by T2', T3: 'two by T3', T4: 'two by T4' },
        { T1: { '.gitattributes': '*.txt merge=union\n' } }
      )
    )
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged', 'merged', 'merged'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T2\ntwo by T3\ntwo by T4\nthree')
  })

  it('attributes a task adds together with its edit apply to the next merge (two tasks: all by git)', async () => {
    const r = await repo({ 'README.md': '# x\n' })
    const result = await fanout(
      r,
      TWO_EDITS,
      agent(
        { T1: 'two by T1', T2: 'two by T2' },
        { T1: { 'sub/.gitattributes': '*.md binary\n', '.gitattributes': '*.txt merge=union\n' } }
      )
    )
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T1\ntwo by T2\nthree')
  })

  it('the attributes follow every change the merged tasks make to them', async () => {
    // T1 adds union for *.txt (in memory), T2 and T3 edit one line (T3 by git: union); T4 adds
    // sub/.gitattributes saying binary (by git, the in-memory path has stopped), and T5, T6 edit
    // one line of sub/n.txt: T6 conflicts, as sub/'s attributes say.
    const r = await repo({ '.gitattributes': '# none yet\n', 'sub/n.txt': NOTES })
    const issue = ['T1', 'T2', 'T3', 'T4', 'T5', 'T6'].map((id) => `- [ ] ${id}: work`).join('\n')
    const result = await fanout(
      r,
      issue,
      agent(
        { T2: 'two by T2', T3: 'two by T3' },
        {
          T1: { '.gitattributes': '*.txt merge=union\n' },
          T4: { 'sub/.gitattributes': '*.txt binary\n' },
          T5: { 'sub/n.txt': 'one\nT5\nthree\n' },
          T6: { 'sub/n.txt': 'one\nT6\nthree\n' }
        }
      )
    )
    expect(result.tasks.map((t) => t.status)).toEqual([
      'merged',
      'merged',
      'merged',
      'merged',
      'merged',
      'conflicted'
    ])
    expect(await expectGitsMerge(r, result)).toBe('one\ntwo by T2\ntwo by T3\nthree')
  })

  it('an attribute file a directory rename carries along is where git merge reads it', async () => {
    // T1 adds a/.gitattributes (union); T2 renames a/ to b/, and git's directory rename moves
    // T1's file along to b/.gitattributes; T3 and T4 edit a/x.txt (now b/x.txt) on one line.
    const r = await repo({ 'a/x.txt': NOTES, 'a/y.txt': 'y\n' })
    await git(r.workspace, ['config', 'merge.directoryRenames', 'true'], r.env)
    const issue = ['T1', 'T2', 'T3', 'T4'].map((id) => `- [ ] ${id}: work`).join('\n')
    const result = await fanout(
      r,
      issue,
      [
        'case "$TASK_ID" in',
        "  T1) printf '*.txt merge=union\\n' > a/.gitattributes ;;",
        '  T2) git mv a b && git commit -qm "move a to b" ;;',
        "  T3) printf 'one\\nT3\\nthree\\n' > a/x.txt ;;",
        "  T4) printf 'one\\nT4\\nthree\\n' > a/x.txt ;;",
        'esac'
      ].join('\n')
    )
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged', 'merged', 'merged'])
    await expectGitsMerge(r, result)
    expect(await git(r.workspace, ['show', `${PREFIX}/integration:b/x.txt`], r.env)).toBe(
      'one\nT3\nT4\nthree'
    )
  })

  it('the resolve command meets the conflict git merge has, in a checkout of the integration branch', async () => {
    const r = await repo(
      { '.gitattributes': '*.txt binary\n' },
      { attributes: '*.txt merge=union\n' }
    )
    const resolve = [
      'git check-attr merge -- notes.txt > "$SCRATCH/attr"',
      'git ls-files -u | wc -l > "$SCRATCH/unmerged"',
      "printf 'one\\nboth\\nthree\\n' > notes.txt",
      'git add notes.txt && git commit -q --no-edit'
    ].join('\n')
    const result = await fanout(r, TWO_EDITS, agent({ T1: 'two by T1', T2: 'two by T2' }), {
      conflictStrategies: ['agent', 'report'],
      resolveCommand: resolve
    })
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged-after-resolve'])
    expect(await readFile(path.join(r.scratch, 'attr'), 'utf8')).toBe('notes.txt: merge: unset\n')
    expect(Number(await readFile(path.join(r.scratch, 'unmerged'), 'utf8'))).toBeGreaterThan(0)
  })
})
