// Issue 13, "Disks fill": the disk estimate before agents start (disk.ts), a log that meets a
// full disk (run-agent.ts), and merges that find no space (engine.ts), with real git and real
// processes; the merge case fills a real tmpfs (skipped, with the reason, where none can be mounted).
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdir, symlink } from 'node:fs/promises'
import path from 'node:path'
import { runAgent } from '../src/core/agents/run-agent.js'
import { DiskSpaceError, fitWorktrees, measureTree, type TreeSize } from '../src/core/disk.js'
import { runFanout } from '../src/core/engine.js'
import { Git } from '../src/core/git/git.js'
import { memoryLogger } from '../src/core/logger.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'
import { mountTmpfs, tmpfsUnavailable } from '../test-support/tmpfs.js'

afterAll(removeTempDirs)

const MiB = 1024 * 1024

describe('fitWorktrees', () => {
  // 5 MiB of files, 100 files in 10 directories: one worktree needs about 6.6 MiB.
  const tree: TreeSize = { bytes: 5 * MiB, files: 100, dirs: 10 }
  const fit = (freeBytes: number, wanted = 4, inodes = 1e9) =>
    fitWorktrees({
      dir: '/work/worktrees',
      wanted,
      treeSize: async () => tree,
      freeSpace: async () => ({ bytes: freeBytes, inodes, blockSize: 4096 })
    })

  it('keeps max-parallel when every worktree fits', async () => {
    expect(await fit(100 * MiB)).toEqual({ worktrees: 4 })
  })

  it('lowers the worktrees at once to those that fit, with a warning naming both figures', async () => {
    const result = await fit(14 * MiB)
    expect(result.worktrees).toBe(2)
    expect(result.warning).toMatch(
      /^Not enough free space in \/work\/worktrees for 4 worktrees at once: they need about 26\.\d MiB \(the base tree is 100 files, 5 MiB\), and 14 MiB are free\. Running at most 2 agent\(s\) at once instead/
    )
  })

  it('refuses when not one worktree fits, naming both figures', async () => {
    await expect(fit(3 * MiB)).rejects.toThrow(DiskSpaceError)
    await expect(fit(3 * MiB)).rejects.toThrow(
      /^Not enough free space for the worktrees in \/work\/worktrees: one worktree needs about 6\.\d MiB .*but 3 MiB are free\. Nothing was started/
    )
  })

  it('counts files against free inodes too', async () => {
    const result = await fit(100 * MiB, 4, 300)
    expect(result.worktrees).toBe(2)
    expect(result.warning).toMatch(
      /need about 504 files \(inodes\).*, and 300 files \(inodes\) are free/
    )
  })

  it('asks nothing of git or the disk when no agent is to run', async () => {
    const result = await fitWorktrees({
      dir: '/nowhere',
      wanted: 0,
      treeSize: () => Promise.reject(new Error('asked')),
      freeSpace: () => Promise.reject(new Error('asked'))
    })
    expect(result).toEqual({ worktrees: 0 })
  })
})

describe('measureTree', () => {
  it("sums the base tree's files in whole blocks, with its files and directories", async () => {
    const origin = await createOrigin({
      'a.txt': 'x',
      'dir/b.bin': 'y'.repeat(5000),
      'dir/sub/c.txt': 'z'.repeat(4096)
    })
    const repo = await cloneWorkspace(origin)
    const g = new Git(repo, { env: isolatedGitEnv(origin.home) })
    const sha = await g.out(['rev-parse', 'HEAD'])
    expect(await measureTree(g, sha, 4096)).toEqual({
      bytes: 4096 + 8192 + 4096,
      files: 3,
      dirs: 2
    })
  })
})

describe('measureTree with Git LFS', () => {
  const pointer = (size: number): string =>
    `version https://git-lfs.github.com/spec/v1\noid sha256:${'ab'.repeat(32)}\nsize ${size}\n`
  const measure = async (files: Record<string, string>): Promise<TreeSize> => {
    const origin = await createOrigin(files)
    const g = new Git(await cloneWorkspace(origin), { env: isolatedGitEnv(origin.home) })
    return measureTree(g, await g.out(['rev-parse', 'HEAD']), 1)
  }
  const attributes = '*.bin filter=lfs diff=lfs merge=lfs -text\n'

  it('counts an LFS file at the size its pointer names, as a checkout writes it', async () => {
    const tree = await measure({
      '.gitattributes': attributes,
      'a.bin': pointer(3_000_000),
      'dir/b.bin': pointer(5),
      'c.txt': 'plain\n'
    })
    expect(tree).toEqual({ bytes: attributes.length + 3_000_000 + 5 + 6, files: 4, dirs: 1 })
  })

  it('counts a pointer at its own size where no .gitattributes says filter=lfs', async () => {
    const text = pointer(3_000_000)
    const tree = await measure({ '.gitattributes': '*.txt text\n', 'a.bin': text })
    expect(tree.bytes).toBe('*.txt text\n'.length + text.length)
  })
})

describe('runAgent on a full disk', () => {
  it('a log that cannot be written ends the agent and says "no space left on device", without an uncaught exception', async () => {
    const dir = await tempDir('full-log')
    // /dev/full answers every write with ENOSPC, as a full disk does.
    const logFile = path.join(dir, 'agent.log')
    await symlink('/dev/full', logFile)
    const result = await runAgent({
      command: `echo first words; sleep 30; touch "${dir}/still-ran"`,
      cwd: dir,
      env: { PATH: process.env.PATH },
      logFile,
      timeoutMs: 60_000,
      killGraceMs: 300,
      marker: { name: 'AGENT_FANOUT_MARKER', value: `full-${Math.random()}` }
    })
    expect(result.noSpace).toEqual({
      message: expect.stringMatching(
        /^no space left on device for its output: the log \S+agent\.log could not be written \((?:Error: )?ENOSPC: no space left on device, write\); the agent was ended$/
      ),
      ended: true
    })
    expect(result.exitCode).not.toBe(0)
    expect(result.logTail).toBe('first words')
    expect(existsSync(path.join(dir, 'still-ran'))).toBe(false)
  })
})

const unavailable = await tmpfsUnavailable()
const describeTmpfs = unavailable ? describe.skip : describe

describeTmpfs(`merging on a full disk${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('merges that find no space fail their tasks with the reason; their branches keep the work; the run returns its result', async () => {
    const tmpfs = await mountTmpfs(16, 'merge-full')
    try {
      const origin = await createOrigin({ 'README.md': '# x\n' })
      const env = isolatedGitEnv(origin.home)
      const repo = await cloneWorkspace(origin, { dir: path.join(tmpfs.dir, 'repo') })
      const identity = { name: 'Fanout Test', email: 'fanout@test.invalid' }
      const g = new Git(repo, { env, identity })
      const baseSha = await g.out(['rev-parse', 'HEAD'])
      const fill = path.join(tmpfs.dir, 'fill')
      await mkdir(fill)
      const result = await runFanout({
        git: g,
        logger: memoryLogger(),
        issue: { number: 7, title: 'Full disk' },
        tasks: parseTaskList('- [ ] One\n- [ ] Two\n- [ ] Three\n').tasks,
        baseBranch: 'main',
        baseSha,
        agentCommand: 'echo "$TASK_ID" > "$TASK_ID.txt"',
        maxParallel: 4,
        taskTimeoutMs: 60_000,
        killGraceMs: 500,
        branchPrefix: 'fanout/issue-7',
        workDir: path.join(tmpfs.dir, 'work'),
        identity,
        agentBaseEnv: { ...env, FILL: fill, BASE: baseSha },
        secrets: [],
        // Checkouts: an overlay verify worktree's layer is deleted after each check, which frees
        // the few pages a merge needs (merges on a disk that stays full are what this tests).
        worktreeMode: 'checkout',
        // The check of the base runs after the agents and before the first merge: it fills the
        // disk (outside its worktree, so the space stays taken) and passes.
        verify: {
          command:
            'if [ "$VERIFY_COMMIT" = "$BASE" ]; then dd if=/dev/zero of="$FILL/zeros" bs=1M 2>/dev/null; fi; exit 0',
          mode: 'each'
        }
      })
      expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
        ['T1', 'failed'],
        ['T2', 'failed'],
        ['T3', 'failed']
      ])
      for (const t of result.tasks) {
        expect(t.reason).toMatch(
          /^no space left on device while merging into fanout\/issue-7\/integration in \S+ \(.*\); its work is kept on its branch$/
        )
        expect(await git(repo, ['show', `${t.commit}:${t.id}.txt`], env)).toBe(t.id)
        expect(await git(repo, ['rev-parse', `refs/heads/${t.branch}`], env)).toBe(t.commit)
      }
      expect(result.integrationSha).toBe(baseSha)
    } finally {
      await tmpfs.unmount()
    }
  })
})
