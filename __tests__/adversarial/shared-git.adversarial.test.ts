// Adversarial cases #14 and #15 of the reliability guide: agents share the repository's .git with
// the engine, so they can plant config and hooks, and move other tasks' branches.
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout } from '../../src/core/engine.js'
import { Git } from '../../src/core/git/git.js'
import { mergeTree } from '../../src/core/git/merge.js'
import { memoryLogger } from '../../src/core/logger.js'
import { parseTaskList } from '../../src/core/tasks/parse.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'

afterAll(removeTempDirs)

async function setup() {
  const origin = await createOrigin({ 'shared.txt': 'one\ntwo\nthree\n' })
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('shared-git')
  const g = new Git(workspace, { env, identity: { name: 'T', email: 't@test.invalid' } })
  return { workspace, env, scratch, g, baseSha: await g.out(['rev-parse', 'HEAD']) }
}

async function run(s: Awaited<ReturnType<typeof setup>>, issue: string, agent: string) {
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
    branchPrefix: 'fanout/issue-7',
    workDir: path.join(s.scratch, 'work'),
    identity: { name: 'T', email: 't@test.invalid' },
    agentBaseEnv: { ...s.env, SCRATCH: s.scratch },
    secrets: []
  })
  return { result, log: logger.lines }
}

describe('adversarial: the shared .git', () => {
  it('#14 hooks, a hooksPath and a merge driver planted by an agent never run in the engine, and are undone', async () => {
    const s = await setup()
    const configBefore = await readFile(path.join(s.workspace, '.git', 'config'), 'utf8')
    const plant = [
      'if [ "$TASK_ID" = T1 ]; then',
      '  common=$(git rev-parse --git-common-dir)',
      '  mkdir -p "$SCRATCH/h"; printf "#!/bin/sh\\ntouch $SCRATCH/hook-ran\\n" > "$SCRATCH/h/pre-commit"; chmod +x "$SCRATCH/h/pre-commit"',
      '  cp "$SCRATCH/h/pre-commit" "$common/hooks/post-commit"; cp "$SCRATCH/h/pre-commit" "$common/hooks/reference-transaction"',
      '  git config core.hooksPath "$SCRATCH/h"',
      '  git config merge.evil.driver "touch $SCRATCH/driver-ran; false"',
      '  echo "* merge=evil" > .gitattributes',
      'fi',
      'sed -i "s/two/two by $TASK_ID/" shared.txt'
    ].join('\n')
    const { result } = await run(s, '- [ ] plants\n- [ ] edits the same line\n', plant)
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'conflicted'])
    expect(existsSync(path.join(s.scratch, 'hook-ran'))).toBe(false)
    expect(existsSync(path.join(s.scratch, 'driver-ran'))).toBe(false)
    expect(await readFile(path.join(s.workspace, '.git', 'config'), 'utf8')).toBe(configBefore)
    expect(existsSync(path.join(s.workspace, '.git', 'hooks', 'post-commit'))).toBe(false)
    expect(result.warnings?.join('\n')).toMatch(
      /\.git\/config .*core\.hookspath|\.git\/config .*hooksPath/i
    )
    expect(result.warnings?.join('\n')).toContain('.git/hooks/post-commit (added)')
  })

  it("#14 a command planted in config finds no token in the environment of the engine's git", async () => {
    const s = await setup()
    const token = 'ghs_tokenThatMustNotLeak_0123456789'
    // Plant a merge driver directly (as if the guard had not run yet) and make two sides differ.
    await git(
      s.workspace,
      ['config', 'merge.evil.driver', `env > ${s.scratch}/driver-env; false`],
      s.env
    )
    await writeFile(path.join(s.workspace, '.gitattributes'), '* merge=evil\n')
    await git(s.workspace, ['add', '.gitattributes'], s.env)
    await git(s.workspace, ['commit', '-qm', 'attributes'], s.env)
    const base = await git(s.workspace, ['rev-parse', 'HEAD'], s.env)
    await git(s.workspace, ['checkout', '-qb', 'a'], s.env)
    await writeFile(path.join(s.workspace, 'shared.txt'), 'one\nA\nthree\n')
    await git(s.workspace, ['commit', '-qam', 'a'], s.env)
    await git(s.workspace, ['checkout', '-qb', 'b', base], s.env)
    await writeFile(path.join(s.workspace, 'shared.txt'), 'one\nB\nthree\n')
    await git(s.workspace, ['commit', '-qam', 'b'], s.env)
    const engineGit = new Git(s.workspace, {
      env: { ...s.env, 'INPUT_GITHUB-TOKEN': token, GH_TOKEN: token },
      secrets: [token]
    })
    await mergeTree(engineGit, 'a', 'b')
    const seen = await readFile(path.join(s.scratch, 'driver-env'), 'utf8') // the driver did run...
    expect(seen).not.toContain(token) // ...but found nothing to steal
    expect(seen).not.toMatch(/^INPUT_/m)
  })

  it("#15 an agent moving another task's branch does not replace that task's result", async () => {
    const s = await setup()
    const agent = [
      'echo "$TASK_ID" > "$TASK_ID.txt"',
      'if [ "$TASK_ID" = T1 ]; then',
      '  git add -A && git commit -qm "T1 work"',
      // Waits until the engine has collected T2's work (its worktree is removed only after
      // that), then moves T2's branch.
      '  for i in $(seq 1 300); do git cat-file -e refs/heads/fanout/issue-7/T2:T2.txt 2>/dev/null && [ ! -d "$TASK_WORKTREE/../T2" ] && break; sleep 0.1; done',
      '  git update-ref refs/heads/fanout/issue-7/T2 HEAD',
      'fi'
    ].join('\n')
    const { result } = await run(s, '- [ ] attacker\n- [ ] victim\n', agent)
    expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged'])
    expect(await git(s.workspace, ['show', 'fanout/issue-7/T2:T2.txt'], s.env)).toBe('T2')
    expect(await git(s.workspace, ['show', 'fanout/issue-7/integration:T2.txt'], s.env)).toBe('T2')
    expect(result.warnings?.join('\n')).toMatch(
      /Branch fanout\/issue-7\/T2 was moved outside its task/
    )
  })
})
