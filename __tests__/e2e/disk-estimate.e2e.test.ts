// Issue 13: before agents start, the base tree times the worktrees at once must fit where the
// worktrees go. The bundled CLI, a repository whose tree is 3.9 MiB, and a work directory on a
// small tmpfs (skipped, with the reason, where none can be mounted).
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir,
  type Origin
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import { lfsMissing, lfsOrigin } from '../../test-support/repo-fixtures.js'
import { mountTmpfs, tmpfsUnavailable } from '../../test-support/tmpfs.js'
import { mountAbility } from '../../src/core/git/overlay.js'

afterAll(removeTempDirs)
const run = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')

const unavailable = await tmpfsUnavailable()
const describeTmpfs = unavailable ? describe.skip : describe
const noOverlay = unavailable
  ? unavailable
  : (await mountAbility(await tempDir('estimate-probe'))).via
    ? ''
    : 'overlay mounts are not possible here (neither root nor passwordless sudo)'
const describeOverlay = noOverlay ? describe.skip : describe

/** 40 files of 100 KB that do not compress: a checkout is 3.9 MiB, one worktree needs ~5.3 MiB. */
function bigTree(): Record<string, string> {
  const files: Record<string, string> = {}
  for (let i = 1; i <= 40; i++) files[`data/f${i}.hex`] = randomBytes(50_000).toString('hex')
  return files
}

/**
 * The bundled CLI on a clone of `origin`, four tasks at once, its work dir on a tmpfs of
 * `sizeMiB`. Each agent notes how many worktrees are on disk while it runs.
 */
async function cliRunOnTmpfs(o: {
  origin: Promise<Origin>
  sizeMiB: number
  mode: 'checkout' | 'overlay'
  agentFirst?: string
}) {
  const origin = await o.origin
  const repo = await cloneWorkspace(origin, { depth: 0 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('estimate-scratch')
  const issueFile = path.join(scratch, 'tasks.md')
  await writeFile(issueFile, '# Big tree\n\n- [ ] One\n- [ ] Two\n- [ ] Three\n- [ ] Four\n')
  const agent = `${o.agentFirst ?? ''}ls -1 .. | wc -l > "$SCRATCH/$TASK_ID.worktrees"; echo "$TASK_ID" > "$TASK_ID.txt"`
  const tmpfs = await mountTmpfs(o.sizeMiB, 'estimate')
  try {
    const args = [CLI, 'run', '--issue-file', issueFile, '--agent', agent, '--repo', repo]
    args.push('--verbose', '--worktree-mode', o.mode)
    args.push('--work-dir', path.join(tmpfs.dir, 'work'), '--max-parallel', '4')
    const r = await run(nodeBinary(), args, { env: { ...env, SCRATCH: scratch } }).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e
    )
    return { ...r, repo, env, scratch }
  } finally {
    await tmpfs.unmount()
  }
}

describeTmpfs(
  `the disk estimate before agents start${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    const cliOnTmpfs = (sizeMiB: number, mode: 'checkout' | 'overlay' = 'checkout') =>
      cliRunOnTmpfs({ origin: createOrigin(bigTree()), sizeMiB, mode })

    it('fits 2 worktrees but not 4: runs 2 agents at once, says why with both figures, and merges every task', async () => {
      const r = await cliOnTmpfs(12)
      expect(r.code).toBe(0)
      const warning =
        /Not enough free space in \S+\/worktrees for 4 worktrees at once: they need about 21\.\d MiB \(the base tree is 40 files, 3\.9 MiB\), and 12 MiB are free\. Running at most 2 agent\(s\) at once instead/
      expect(r.stderr).toMatch(warning)
      expect(r.stdout).toMatch(warning) // in the report too
      // The engine's log goes to stderr (--verbose); stdout holds the terminal report.
      expect(r.stderr).toContain('Run 4 agent(s), at most 2 at once')
      expect(r.stdout).toMatch(/^agent-fanout: 4 merged/)
      for (const id of ['T1', 'T2', 'T3', 'T4']) {
        expect(await git(r.repo, ['show', `fanout/issue-1/integration:${id}.txt`], r.env)).toBe(id)
        const seen = Number(await readFile(path.join(r.scratch, `${id}.worktrees`), 'utf8'))
        expect(seen).toBeLessThanOrEqual(2)
      }
    })

    describeOverlay(`overlay worktrees${noOverlay ? ` (skipped: ${noOverlay})` : ''}`, () => {
      it('count the base tree once: all 4 fit where 2 checkouts did', async () => {
        const r = await cliOnTmpfs(12, 'overlay')
        expect(r.code).toBe(0)
        expect(r.stderr).toContain('Worktrees: overlay worktrees (worktree-mode: overlay')
        expect(r.stderr).not.toMatch(/Not enough free space/)
        expect(r.stderr).toContain('Run 4 agent(s), at most 4 at once')
        expect(r.stdout).toMatch(/^agent-fanout: 4 merged/)
        for (const id of ['T1', 'T2', 'T3', 'T4'])
          expect(await git(r.repo, ['show', `fanout/issue-1/integration:${id}.txt`], r.env)).toBe(
            id
          )
      })

      it('refuse a base tree larger than the disk before any agent', async () => {
        const r = await cliOnTmpfs(3, 'overlay')
        expect(r.code).toBe(1)
        expect(r.stderr).toMatch(
          /^agent-fanout: Not enough free space for the worktrees in \S+\/worktrees: one worktree needs about [\d.]+ MiB \(the base tree is 40 files, 3\.9 MiB, checked out once and shared by overlay worktrees; 4 at once need [\d.]+ MiB\), but 3 MiB are free\. Nothing was started/m
        )
        expect(await readdir(r.scratch)).toEqual(['tasks.md'])
        expect(await git(r.repo, ['for-each-ref', 'refs/heads/fanout/'], r.env)).toBe('')
      })
    })

    it('fits not one worktree: refused before any agent starts, naming both figures', async () => {
      const r = await cliOnTmpfs(3)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(
        /^agent-fanout: Not enough free space for the worktrees in \S+\/worktrees: one worktree needs about 5\.\d MiB \(the base tree is 40 files, 3\.9 MiB; 4 at once need 21\.\d MiB\), but 3 MiB are free\. Nothing was started/m
      )
      expect(await readdir(r.scratch)).toEqual(['tasks.md'])
      expect(await git(r.repo, ['for-each-ref', 'refs/heads/fanout/'], r.env)).toBe('')
    })
  }
)

const lfsUnavailable = unavailable ?? (await lfsMissing())
const describeLfs = lfsUnavailable ? describe.skip : describe

describeLfs(
  `the disk estimate of a repository with Git LFS files${lfsUnavailable ? ` (skipped: ${lfsUnavailable})` : ''}`,
  () => {
    /** 4 LFS files of 1 MB that do not compress: their pointers are 0.5 KB in all, a checkout 3.8 MiB. */
    function lfsOnTmpfs(sizeMiB: number, mode: 'checkout' | 'overlay') {
      const files: Record<string, string> = {}
      for (let i = 1; i <= 4; i++) files[`media/f${i}.bin`] = randomBytes(500_000).toString('hex')
      return cliRunOnTmpfs({
        origin: lfsOrigin(files),
        sizeMiB,
        mode,
        // The agents note the size they see: the content's, not the pointer's.
        agentFirst: 'wc -c < media/f1.bin > "$SCRATCH/$TASK_ID.size"; '
      })
    }

    it('counts LFS files at their real size: fits 2 checkout worktrees of 4 in 13 MiB, says so with the figures, and merges every task', async () => {
      const r = await lfsOnTmpfs(13, 'checkout')
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(
        /Not enough free space in \S+\/worktrees for 4 worktrees at once: they need about 2\d\.\d MiB \(the base tree is 6 files, 3\.8 MiB\), and 13 MiB are free\. Running at most 2 agent\(s\) at once instead/
      )
      expect(r.stdout).toMatch(/^agent-fanout: 4 merged/)
      for (const id of ['T1', 'T2', 'T3', 'T4']) {
        // The agents saw the content, not the pointers.
        expect(await readFile(path.join(r.scratch, `${id}.size`), 'utf8')).toBe('1000000\n')
        const seen = Number(await readFile(path.join(r.scratch, `${id}.worktrees`), 'utf8'))
        expect(seen).toBeLessThanOrEqual(2)
      }
    })

    it.each([
      ['checkout', /one worktree needs about 5\.\d MiB \(the base tree is 6 files, 3\.8 MiB;/],
      [
        'overlay',
        /the base tree is 6 files, 3\.8 MiB, checked out once and shared by overlay worktrees/
      ]
    ] as const)(
      `counts LFS files at their real size: %s worktrees whose pointers would fit in 3 MiB are refused before any agent starts${noOverlay ? ` (overlay skipped: ${noOverlay})` : ''}`,
      async (mode, figures) => {
        if (mode === 'overlay' && noOverlay) return
        const r = await lfsOnTmpfs(3, mode)
        expect(r.code).toBe(1)
        expect(r.stderr).toMatch(/^agent-fanout: Not enough free space for the worktrees in \S+: /m)
        expect(r.stderr).toMatch(figures)
        expect(r.stderr).toContain('but 3 MiB are free. Nothing was started')
        expect(await readdir(r.scratch)).toEqual(['tasks.md'])
      }
    )
  }
)
