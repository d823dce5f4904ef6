// keepPeoplesWork (core/people.ts) on real repositories: which commits count as people's, and
// the cases where keeping them is impossible. The end-to-end paths are in e2e/people.e2e.test.ts.
import { afterAll, describe, expect, it } from '@jest/globals'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { TaskPlan } from '../src/core/engine.js'
import { Git } from '../src/core/git/git.js'
import {
  CannotKeepError,
  keepPeoplesWork,
  type KeepInput,
  type TaskBranchState
} from '../src/core/people.js'
import { git, isolatedGitEnv, removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const INTEGRATION = 'fanout/issue-7/integration'

async function setup() {
  const dir = await tempDir('people-int')
  const env = isolatedGitEnv(await tempDir('people-int-home'))
  await git(dir, ['init', '--quiet', '--initial-branch=main'], env)
  const g = new Git(dir, { env, identity: { name: 'Bot', email: 'bot@test.invalid' } })
  /** A commit on `start` (a new root when null) writing `files`, as branch `branch`. */
  const commit = async (
    branch: string,
    start: string | null,
    files: Record<string, string>,
    message: string
  ): Promise<string> => {
    if (start === null) await git(dir, ['checkout', '--quiet', '--orphan', branch], env)
    else await git(dir, ['checkout', '--quiet', '-B', branch, start], env)
    if (start === null) {
      await git(dir, ['rm', '-rq', '--cached', '--ignore-unmatch', '.'], env)
      await git(dir, ['clean', '-fdq'], env)
    }
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true })
      await writeFile(path.join(dir, file), content)
    }
    await git(dir, ['add', '--all'], env)
    await git(dir, ['commit', '--quiet', '--allow-empty', '-m', message], env)
    return git(dir, ['rev-parse', 'HEAD'], env)
  }
  /** The action's merge commit of `task` onto `onto`, with its trailers. */
  const actionMerge = async (onto: string, task: string, id: string): Promise<string> => {
    const tree = (await git(dir, ['merge-tree', '--write-tree', onto, task], env)).split('\n')[0]
    const message = `Merge task ${id}\n\nAgent-Fanout-Task: ${id}\nAgent-Fanout-Issue: 7\n`
    return g.out(['commit-tree', tree, '-p', onto, '-p', task, '-F', '-'], { stdin: message })
  }
  const base = await commit('main', null, { 'a.txt': 'a\n' }, 'base')
  const t1 = await commit('fanout/issue-7/T1', base, { 'T1.txt': 'one\n' }, 'T1: one')
  const r = await actionMerge(base, t1, 'T1')
  const input = (over: Partial<KeepInput>): KeepInput => ({
    issueNumber: 7,
    baseBranch: 'main',
    baseSha: base,
    integrationBranch: INTEGRATION,
    tasks: [],
    plan: new Map<string, TaskPlan>(),
    ...over
  })
  const t1State = (over: Partial<TaskBranchState> = {}): TaskBranchState => ({
    id: 'T1',
    title: 'one',
    branch: 'fanout/issue-7/T1',
    tip: t1,
    recordedTip: t1,
    recordedStatus: 'merged',
    sameText: true,
    ...over
  })
  return { g, commit, base, t1, r, input, t1State }
}

describe('keepPeoplesWork', () => {
  it('without a record, commits on the branch lacking the issue trailer are the people’s', async () => {
    const { g, commit, base, r, input } = await setup()
    const asLeft = await keepPeoplesWork(g, input({ integrationTip: r }))
    expect(asLeft).toMatchObject({ start: base, people: [] })

    const pat = await commit(INTEGRATION, r, { 'pat.txt': 'pat\n' }, 'Pat: a fix')
    const kept = await keepPeoplesWork(g, input({ integrationTip: pat }))
    expect(kept).toMatchObject({ start: pat, people: [pat] })
    // With a record, the record decides: the same commit is people's, and stays so once built on.
    const recorded = await keepPeoplesWork(
      g,
      input({ integrationTip: pat, record: { sha: r, people: [] } })
    )
    expect(recorded.people).toEqual([pat])
    const later = await keepPeoplesWork(
      g,
      input({ integrationTip: pat, record: { sha: pat, people: [pat] } })
    )
    expect(later).toMatchObject({ start: pat, people: [pat] })
  })

  it('refuses when the integration branch with people’s commits shares no history with the base', async () => {
    const { g, commit, input } = await setup()
    const orphan = await commit(INTEGRATION, null, { 'other.txt': 'x\n' }, 'Someone else entirely')
    await expect(keepPeoplesWork(g, input({ integrationTip: orphan }))).rejects.toThrow(
      /shares no history with `main`/
    )
  })

  it('refuses to run again a task the kept branch holds when its text changed; keeps it when it did not', async () => {
    const { g, commit, r, t1, input, t1State } = await setup()
    const pat = await commit(INTEGRATION, r, { 'pat.txt': 'pat\n' }, 'Pat: a fix')
    const plan = new Map<string, TaskPlan>([['T1', { mode: 'run' }]])
    const changed = keepPeoplesWork(
      g,
      input({
        integrationTip: pat,
        record: { sha: r, people: [] },
        tasks: [t1State({ sameText: false })],
        plan
      })
    )
    await expect(changed).rejects.toThrow(CannotKeepError)
    await expect(changed).rejects.toThrow(/T1: its text changed, so it would run again/)
    const same = await keepPeoplesWork(
      g,
      input({ integrationTip: pat, record: { sha: r, people: [] }, tasks: [t1State()], plan })
    )
    expect(same.plan.get('T1')).toMatchObject({
      mode: 'keep',
      result: { status: 'merged', commit: t1, reused: true }
    })
  })

  it('leaves a task branch of people that shares no history with the base unmerged and says why', async () => {
    const { g, commit, input, t1State } = await setup()
    const stray = await commit('stray', null, { 'z.txt': 'z\n' }, 'Unrelated')
    const decision = await keepPeoplesWork(
      g,
      input({
        tasks: [t1State({ tip: stray })],
        plan: new Map<string, TaskPlan>([['T1', { mode: 'run' }]])
      })
    )
    expect(decision.plan.get('T1')).toMatchObject({
      mode: 'keep',
      result: { status: 'failed', reason: expect.stringMatching(/share no history with main/) }
    })
  })
})
