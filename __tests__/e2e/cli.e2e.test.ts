// The local CLI, bundled (dist/cli/index.js), on real repositories.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  createOrigin,
  cloneWorkspace,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'

const run = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
afterAll(removeTempDirs)

describe('agent-fanout CLI', () => {
  it('runs the engine on a local repository and leaves the branches there', async () => {
    const origin = await createOrigin({ 'README.md': '# x\n' })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const env = isolatedGitEnv(origin.home)
    const issueFile = path.join(await tempDir('cli-issue'), 'tasks.md')
    await writeFile(
      issueFile,
      '# Local issue\n\n- [ ] T1: first\n- [ ] T2: second\n- [ ] T3: broken\n'
    )
    const agent = 'if [ "$TASK_ID" = T3 ]; then exit 5; fi; echo "$TASK_TITLE" > "$TASK_ID.txt"'
    const result = await run(
      nodeBinary(),
      [
        CLI,
        'run',
        '--issue-file',
        issueFile,
        '--agent',
        agent,
        '--repo',
        repo,
        '--issue-number',
        '4',
        '--json'
      ],
      { env }
    ).catch((e: { code: number; stdout: string }) => e)
    expect('code' in result ? result.code : 0).toBe(1) // a failed task makes the exit status 1
    const json = JSON.parse(result.stdout) as {
      integrationBranch: string
      tasks: { id: string; status: string }[]
    }
    expect(json.tasks.map((t) => [t.id, t.status])).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged'],
      ['T3', 'failed']
    ])
    expect(json.integrationBranch).toBe('fanout/issue-4/integration')
    expect(await git(repo, ['show', 'fanout/issue-4/integration:T2.txt'], env)).toBe('second')
  })

  it('two repositories in folders of the same name run the same issue number at once without sharing a work dir', async () => {
    const tmp = await tempDir('cli-tmp') // the default work dir lives under os.tmpdir()
    const runOne = async (): Promise<{ id: string; status: string }[]> => {
      const origin = await createOrigin({ 'README.md': '# x\n' })
      const repo = await cloneWorkspace(origin, { depth: 0 }) // always <temp>/repo
      const issueFile = path.join(await tempDir('cli-issue'), 'tasks.md')
      await writeFile(issueFile, '# Same number\n\n- [ ] T1: first\n- [ ] T2: second\n')
      const { stdout } = await run(
        nodeBinary(),
        [
          CLI,
          'run',
          '--issue-file',
          issueFile,
          '--agent',
          'sleep 3; echo "$TASK_TITLE" > "$TASK_ID.txt"',
          '--repo',
          repo,
          '--issue-number',
          '7',
          '--json'
        ],
        { env: { ...isolatedGitEnv(origin.home), TMPDIR: tmp } }
      )
      return (
        JSON.parse(stdout) as {
          tasks: { id: string; status: string }[]
        }
      ).tasks
    }
    const first = runOne()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const [a, b] = await Promise.all([first, runOne()])
    for (const tasks of [a, b])
      expect(tasks.map((t) => [t.id, t.status])).toEqual([
        ['T1', 'merged'],
        ['T2', 'merged']
      ])
  })

  it('explains usage errors with the missing flag', async () => {
    const result = await run(nodeBinary(), [CLI, 'run', '--agent', 'true']).catch(
      (e: { code: number; stderr: string }) => e
    )
    expect('code' in result && result.code).toBe(2)
    expect(result.stderr).toMatch(/--issue-file is required/)
  })

  it('runs the bundled demo: three tasks merge, two conflict, one fails, one is skipped', async () => {
    const { stdout } = await run(nodeBinary(), [CLI, 'demo'], {
      env: { PATH: process.env.PATH, HOME: await tempDir('demo-home') }
    })
    expect(stdout).toContain('\nagent-fanout: 3 merged, 2 conflicted, 1 failed, 1 skipped\n')
    expect(stdout).toMatch(/^T3 conflicted: Mark the project as beta$/m)
    expect(stdout).toMatch(/^T5 conflicted: Record the README changes in the changelog$/m)
    expect(stdout).toMatch(/^T6 failed: Upgrade the build tooling$/m)
    expect(stdout).toContain('Merge task T4: Record the farewell function in the changelog')
  })
})
