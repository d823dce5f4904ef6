// What an agent leaves behind is judged before it is committed, and one agent cannot cost another
// its work (issue 13): agents that exit in the middle of a merge or rebase, move HEAD, delete their
// worktree's .git, or prune the object store every task shares. Real git, real agents (bash).
import { afterAll, describe, expect, it } from '@jest/globals'
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
    }
  }, 300_000)
})
