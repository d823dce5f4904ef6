// Guide cases #5, #19 and #23: permission from the API not from author_association, leases that
// refuse to overwrite a branch someone moved during the run, and conflicts that are not textual.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout } from '../../src/core/engine.js'
import { Git } from '../../src/core/git/git.js'
import { memoryLogger } from '../../src/core/logger.js'
import { parseTaskList } from '../../src/core/tasks/parse.js'
import { FakeGitHub } from '../../test-support/fake-github.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import { runAction } from '../../test-support/run-action.js'

const servers: FakeGitHub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

async function world(body: string) {
  const origin = await createOrigin({ 'README.md': '# x\n', 'logo.bin': 'PNG\0\x01\x02\n' })
  const api = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(api)
  api.addIssue({ number: 12, title: 'x', body })
  return { origin, api, env: isolatedGitEnv(origin.home), scratch: await tempDir('leases') }
}

function labelled(api: FakeGitHub, sender: string, association: string) {
  const issue = api.issues.get(12)!
  return {
    action: 'labeled',
    label: { name: 'agents' },
    issue: { number: 12, title: issue.title, body: issue.body, author_association: association },
    repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
    sender: { login: sender, type: 'User' }
  }
}

describe('adversarial: leases, permissions, non-textual conflicts', () => {
  it('#5 permission comes from the API: a "CONTRIBUTOR" with write runs, a "MEMBER" with read does not', async () => {
    const w = await world('- [ ] one\n')
    w.api.setPermission('private-member', 'write')
    w.api.setPermission('read-member', 'read')
    const base = {
      inputs: { 'agent-command': 'echo "$TASK_ID" >> "$SCRATCH/started"' },
      api: w.api,
      eventName: 'issues',
      env: { SCRATCH: w.scratch }
    }
    const refused = await runAction({
      ...base,
      workspace: await cloneWorkspace(w.origin),
      payload: labelled(w.api, 'read-member', 'MEMBER'),
      actor: 'read-member'
    })
    expect(refused.stdout).toMatch(/@read-member has "read" permission/)
    expect(w.api.pulls).toHaveLength(0)
    const accepted = await runAction({
      ...base,
      workspace: await cloneWorkspace(w.origin),
      payload: labelled(w.api, 'private-member', 'CONTRIBUTOR'),
      actor: 'private-member'
    })
    expect(accepted.exitCode).toBe(0)
    expect(accepted.stdout).toMatch(/Triggered by private-member \(write permission\)/)
  })

  it('#19 a task branch someone pushes to during the run is not overwritten, and that is reported', async () => {
    const w = await world('- [ ] one\n- [ ] two\n')
    w.api.setPermission('maintainer', 'write')
    const first = await runAction({
      workspace: await cloneWorkspace(w.origin),
      inputs: { 'agent-command': 'echo "$TASK_ID first" > "$TASK_ID.txt"' },
      eventName: 'issues',
      payload: labelled(w.api, 'maintainer', 'OWNER'),
      api: w.api
    })
    expect(first.exitCode).toBe(0)
    // A human pushes to T1's branch while the second run's agents work (simulated from T2's agent).
    const human = await tempDir('human')
    await git(human, ['clone', '-q', w.origin.url, '.'], w.env)
    await git(human, ['checkout', '-q', 'fanout/issue-12/T1'], w.env)
    await writeFile(path.join(human, 'human.txt'), 'mine\n')
    await git(human, ['add', '.'], w.env)
    await git(human, ['commit', '-qm', 'human work'], w.env)
    const humanTip = await git(human, ['rev-parse', 'HEAD'], w.env)
    w.api.editIssueBody(12, '- [ ] one, again\n- [ ] two\n')
    const agent = `echo "$TASK_ID second" > "$TASK_ID.txt"; if [ "$TASK_ID" = T1 ]; then git -C ${human} push -q origin HEAD:refs/heads/fanout/issue-12/T1; fi`
    const second = await runAction({
      workspace: await cloneWorkspace(w.origin),
      inputs: { 'agent-command': agent },
      eventName: 'issues',
      payload: labelled(w.api, 'maintainer', 'OWNER'),
      api: w.api,
      env: { GIT_CONFIG_NOSYSTEM: '1' }
    })
    expect(second.exitCode).toBe(1)
    expect(second.stdout).toMatch(/REJECTED fanout\/issue-12\/T1: .*stale info/)
    expect(await git(w.origin.bareDir, ['rev-parse', 'refs/heads/fanout/issue-12/T1'], w.env)).toBe(
      humanTip
    )
    expect(second.errors.join('\n')).toMatch(/push rejected for fanout\/issue-12\/T1/)
  })

  it("#23 rename/delete and binary conflicts are detected and reported with git's messages", async () => {
    const w = await world('')
    const workspace = await cloneWorkspace(w.origin, { depth: 1 })
    const g = new Git(workspace, { env: w.env, identity: { name: 'T', email: 't@test.invalid' } })
    const agent = [
      'case "$TASK_ID" in',
      '  T1) git mv README.md GUIDE.md; printf "PNG\\0one\\n" > logo.bin ;;',
      '  T2) git rm -q README.md; printf "PNG\\0two\\n" > logo.bin ;;',
      'esac'
    ].join('\n')
    const result = await runFanout({
      git: g,
      logger: memoryLogger(),
      issue: { number: 12, title: 'x' },
      tasks: parseTaskList('- [ ] rename\n- [ ] delete\n').tasks,
      baseBranch: 'main',
      baseSha: await g.out(['rev-parse', 'HEAD']),
      agentCommand: agent,
      maxParallel: 2,
      taskTimeoutMs: 60_000,
      branchPrefix: 'fanout/issue-12',
      workDir: path.join(w.scratch, 'work'),
      identity: { name: 'T', email: 't@test.invalid' },
      agentBaseEnv: w.env,
      secrets: []
    })
    const t2 = result.tasks[1]
    expect(t2.status).toBe('conflicted')
    expect(t2.conflict?.files).toEqual(expect.arrayContaining(['logo.bin']))
    const messages = t2.conflict?.messages.join('\n') ?? ''
    expect(messages).toMatch(/CONFLICT \(rename\/delete\)/)
    expect(messages).toMatch(/CONFLICT \(content\): Merge conflict in logo\.bin|binary/i)
    expect(t2.conflict?.hunks.find((h) => h.file === 'logo.bin')?.text).toMatch(/binary/)
    expect(t2.conflict?.withTasks).toEqual([{ id: 'T1', branch: 'fanout/issue-12/T1' }])
  })
})
