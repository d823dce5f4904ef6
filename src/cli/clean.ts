import { realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { defaultBranchPrefix } from '../core/branches.js'
import type { Git } from '../core/git/git.js'
import { releaseOverlays } from '../core/git/overlay-layers.js'
import { terminalLine } from '../core/report/terminal.js'
import type { Parsed } from './args.js'
import { deleteLocalState, readLocalState, stateRef } from './record.js'
import { defaultWorkDir, localTips, openRepository } from './run.js'

// `agent-fanout clean`: removes what runs of one issue left in the repository (the worktrees in
// their work dir, the branches under the prefix, the recorded state) and says what it removed,
// with each branch's last commit, so that `git branch <name> <commit>` brings one back until
// git's garbage collection. A branch checked out somewhere is left, and said so; worktrees
// outside the run's work dir (a person's own, on one of its branches) are never touched.

interface Cleaned {
  worktrees: string[]
  branches: { name: string; commit: string }[]
  kept: { name: string; why: string }[]
  state?: string
  workDir?: string
}

export async function cleanCommand(parsed: Parsed): Promise<number> {
  const { options, local } = parsed
  const repoDir = path.resolve(local.repo ?? '.')
  const git = await openRepository(repoDir, undefined, process.env)
  const issueNumber = options['issue-number'] ?? 1
  const prefix = options['branch-prefix'] ?? defaultBranchPrefix(issueNumber)
  const stored = await readLocalState(git, prefix)
  const workDir = path.resolve(
    local['work-dir'] ?? stored?.local.workDir ?? (await defaultWorkDir(repoDir, issueNumber))
  )
  const done: Cleaned = { worktrees: [], branches: [], kept: [] }

  const realWork = await realpath(workDir).catch(() => workDir)
  // A killed overlay run left its worktrees mounted (git cannot delete a mount point) and
  // overlayfs's root-owned work dirs: undone first, through sudo when the run mounted that way.
  await releaseOverlays(path.join(realWork, 'worktrees'))
  const worktrees = await listWorktrees(git)
  for (const w of worktrees.filter((w) => inside(w.path, realWork) || inside(w.path, workDir))) {
    await git.run(['worktree', 'remove', '--force', '--force', w.path], { okExitCodes: [128] })
    done.worktrees.push(w.path)
  }
  await git.run(['worktree', 'prune'])
  const left = await listWorktrees(git)
  for (const [name, commit] of await localTips(git, prefix)) {
    const holder = left.find((w) => w.branch === `refs/heads/${name}`)
    if (holder) {
      done.kept.push({ name, why: `checked out in ${holder.path}` })
      continue
    }
    // Only if it is still where it was read: a commit made meanwhile is not deleted unseen.
    await git.out(['update-ref', '-d', `refs/heads/${name}`, commit])
    done.branches.push({ name, commit })
  }
  done.state = await deleteLocalState(git, prefix)
  if (done.state === 'legacy') done.state = 'the record in .git/agent-fanout/'
  else if (done.state) done.state = stateRef(prefix)
  const existed = await realpath(workDir).then(
    () => true,
    () => false
  )
  await rm(workDir, { recursive: true, force: true })
  if (existed) done.workDir = workDir

  process.stdout.write(local.json ? `${JSON.stringify(done, null, 2)}\n` : describe(prefix, done))
  return 0
}

function describe(prefix: string, c: Cleaned): string {
  const lines = [
    ...c.worktrees.map((w) => `removed worktree ${terminalLine(w, 500)}`),
    ...c.branches.map((b) => `deleted branch ${b.name} (was ${b.commit.slice(0, 12)})`),
    ...(c.state ? [`deleted the recorded state (${c.state})`] : []),
    ...(c.workDir ? [`removed the work dir ${terminalLine(c.workDir, 500)}`] : []),
    ...c.kept.map((k) => `kept branch ${k.name}: ${terminalLine(k.why, 500)}`)
  ]
  if (lines.length === 0) return `nothing to clean for ${prefix}.\n`
  if (c.branches.length)
    lines.push(
      `(git branch <name> <commit> brings a deleted branch back, until git's garbage collection)`
    )
  return `${lines.join('\n')}\n`
}

function inside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

async function listWorktrees(git: Git): Promise<{ path: string; branch?: string }[]> {
  const text = await git.out(['worktree', 'list', '--porcelain', '-z']).catch(() => '')
  const out: { path: string; branch?: string }[] = []
  for (const field of text.split('\0')) {
    if (field.startsWith('worktree ')) out.push({ path: field.slice('worktree '.length) })
    else if (field.startsWith('branch ') && out.length) out[out.length - 1].branch = field.slice(7)
  }
  return out
}
