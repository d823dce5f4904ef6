// Git LFS through the local CLI, bundled (dist/cli/index.js; rebuild with `npm run package`), in
// both worktree modes: a developer's clone made with git-lfs installed (content on disk, objects
// in .git/lfs), and judged by what they would check: what agents saw, the branches git-lfs
// smudges, the pointers in the commits, the objects in the local store, and the log.
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { mountAbility } from '../../src/core/git/overlay.js'
import { releaseOverlays } from '../../src/core/git/overlay-layers.js'
import {
  cloneWorkspace,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../../test-support/git-fixtures.js'
import {
  isPointer,
  LFS_CONTENT,
  lfsHome,
  lfsMissing,
  lfsOrigin
} from '../../test-support/repo-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'

const run = promisify(execFile)
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
const INTEGRATION = 'fanout/issue-5/integration'
const workDirs: string[] = []
afterAll(async () => {
  for (const dir of workDirs) await releaseOverlays(path.join(dir, 'worktrees')).catch(() => 0)
  await removeTempDirs()
})

const LFS_MISSING = await lfsMissing()
const overlay = await mountAbility(await tempDir('cli-lfs-probe'))
const OVERLAY_MISSING = overlay.via ? undefined : overlay.reason
const skipped = (why: string | undefined): string => (why ? ` (skipped: ${why})` : '')

const AGENT = [
  'cp big.bin "$SCRATCH/$TASK_ID-big.bin"; cp assets/other.bin "$SCRATCH/$TASK_ID-other.bin"',
  'case "$TASK_ID" in',
  // git-lfs runs in the agent's own git too (hooks on), as a developer's agent would run it.
  '  T1) rm big.bin; git checkout -- big.bin; printf "changed by T1\\n" > big.bin; printf "new LFS file\\n" > assets/t1.bin ;;',
  '  T2) printf "other, changed by T2\\n" > assets/other.bin ;;',
  'esac'
].join('\n')

/** A developer's own pre-push hook, which `git lfs install` will not overwrite. */
const OWN_HOOK = '#!/bin/sh\necho "own pre-push hook"\n'

/**
 * When the developer set up git-lfs (`git lfs install`): `before` their clone, which then has the
 * content, the objects and git-lfs's hooks; `after` it, which has pointer files and no objects
 * or hooks; or `never`, with a pre-push hook of the clone's own.
 */
type SetUp = 'before' | 'after' | 'never'

/** The CLI run in a clone of an LFS origin; its exit code, output and the repo. */
async function runCli(mode: 'checkout' | 'overlay', setUp: SetUp) {
  const home = setUp === 'before' ? await lfsHome() : await tempDir('plain-home')
  const origin = await lfsOrigin()
  const repo = await cloneWorkspace({ ...origin, home }, { depth: 0 })
  const env = isolatedGitEnv(home)
  expect(isPointer(await readFile(path.join(repo, 'big.bin'), 'utf8'))).toBe(setUp !== 'before')
  if (setUp === 'after') await git(home, ['lfs', 'install', '--skip-repo'], env)
  if (setUp === 'never')
    await writeFile(path.join(repo, '.git/hooks/pre-push'), OWN_HOOK, { mode: 0o755 })
  const scratch = await tempDir('cli-lfs-scratch')
  const workDir = path.join(scratch, 'work')
  workDirs.push(workDir)
  const issueFile = path.join(scratch, 'tasks.md')
  await writeFile(issueFile, '# LFS\n\n- [ ] T1: Change the big file, add one\n- [ ] T2: Other\n')
  const args = [CLI, 'run', '--issue-file', issueFile, '--agent', AGENT, '--repo', repo]
  args.push('--issue-number', '5', '--worktree-mode', mode, '--work-dir', workDir, '--json')
  const r = await run(nodeBinary(), args, { cwd: repo, env: { ...env, SCRATCH: scratch } }).then(
    (ok) => ({ code: 0, ...ok }),
    (e: { code: number; stdout: string; stderr: string }) => e
  )
  return { ...r, repo, env, scratch }
}

describe.each(['checkout', 'overlay'] as const)('Git LFS through the CLI, %s worktrees', (mode) => {
  const why = LFS_MISSING ?? (mode === 'overlay' ? OVERLAY_MISSING : undefined)
  it.each([
    ['a clone made after git-lfs was set up', 'before'],
    ['a clone made before git-lfs was set up (pointer files, no hooks)', 'after'],
    ['a clone without git-lfs set up (pointer files, a pre-push hook of its own)', 'never']
  ] as const)(
    `in %s: agents see LFS content; their changed and new LFS files merge as pointers whose objects are in the local store; no shared-.git warning${skipped(why)}`,
    async (_, setUp) => {
      if (why) return
      const r = await runCli(mode, setUp)
      expect(r.stderr + r.stdout).not.toContain('shared .git was changed')
      expect(r.code).toBe(0)
      const json = JSON.parse(r.stdout) as { tasks: { id: string; status: string }[] }
      expect(json.tasks.map((t) => [t.id, t.status])).toEqual([
        ['T1', 'merged'],
        ['T2', 'merged']
      ])
      // Each worktree had the content, not the pointers.
      for (const id of ['T1', 'T2']) {
        expect(await readFile(path.join(r.scratch, `${id}-big.bin`), 'utf8')).toBe(LFS_CONTENT)
        expect(await readFile(path.join(r.scratch, `${id}-other.bin`), 'utf8')).toBe(
          `other ${LFS_CONTENT}`
        )
      }
      // Committed as git-lfs commits them: pointers, as .gitattributes says.
      for (const file of ['big.bin', 'assets/t1.bin', 'assets/other.bin'])
        expect(isPointer(await git(r.repo, ['show', `${INTEGRATION}:${file}`], r.env))).toBe(true)
      // Every object the integration branch names is in the local store.
      expect(await git(r.repo, ['lfs', 'fsck', '--objects', INTEGRATION], r.env)).toContain(
        'Git LFS fsck OK'
      )
      // And a checkout of it smudges the content.
      const checkout = path.join(await tempDir('cli-lfs-checkout'), 'wt')
      await git(r.repo, ['worktree', 'add', '-q', '--detach', checkout, INTEGRATION], r.env)
      const content = (file: string) => readFile(path.join(checkout, file), 'utf8')
      expect(await content('big.bin')).toBe('changed by T1\n')
      expect(await content('assets/t1.bin')).toBe('new LFS file\n')
      expect(await content('assets/other.bin')).toBe('other, changed by T2\n')
      await git(r.repo, ['worktree', 'remove', '--force', checkout], r.env)
      if (setUp !== 'never') return
      // The developer's hook is theirs still; the log says what it means for their pushes.
      expect(await readFile(path.join(r.repo, '.git/hooks/pre-push'), 'utf8')).toBe(OWN_HOOK)
      expect(r.stderr).toMatch(/warning: .*pre-push.*git lfs push/)
    },
    120_000
  )
})
