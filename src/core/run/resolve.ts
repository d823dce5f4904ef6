import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { readHead } from '../git/collect.js'
import type { Git } from '../git/git.js'
import { worktreeEnv, type Worktree } from '../git/worktrees.js'
import type { ConflictInfo } from '../types.js'

/**
 * Accepts a resolve command's work only when no conflict markers remain in any file, nothing is
 * left unmerged in the index, and the result is a commit containing both sides (the command may
 * commit itself; if it only edited and staged, the merge is concluded here).
 */
export async function acceptResolution(
  git: Git,
  worktree: Worktree,
  onto: string,
  tip: string,
  conflict: ConflictInfo
): Promise<{ commit: string } | { error: string }> {
  // Its own git dir, named explicitly, and a HEAD that is still detached: a commit here moves no
  // branch, whatever the command did to the worktree's .git file or HEAD.
  const at = { cwd: worktree.path, env: worktreeEnv(worktree) }
  const wt = worktree.path
  const head = await readHead(worktree)
  if (head.ref || head.unreadable)
    return { error: `it left the worktree's HEAD on ${head.ref ?? 'nothing readable'}` }
  const markers = await git.run(['grep', '-l', '-I', '-E', '^(<<<<<<<|>>>>>>>)( |$)', '--', '.'], {
    ...at,
    okExitCodes: [1]
  })
  const marked = [
    ...new Set([
      ...markers.stdout.split('\n').filter(Boolean),
      ...(await filesWithMarkers(wt, conflict.files))
    ])
  ]
  if (marked.length > 0) return { error: `conflict markers remain in ${marked.join(', ')}` }
  const unmerged = await git.out(['ls-files', '-u', '--', ...conflict.files], at)
  if (unmerged) {
    const files = [...new Set(unmerged.split('\n').map((l) => l.split('\t')[1]))]
    return {
      error: `the index still has unmerged paths: ${files.join(', ')} (resolve them and git add)`
    }
  }
  const mergeHead = await git.run(['rev-parse', '-q', '--verify', 'MERGE_HEAD'], {
    ...at,
    okExitCodes: [1]
  })
  if (mergeHead.exitCode === 0) {
    await git.run(['add', '--all'], at)
    await git.run(['commit', '--no-verify', '--no-edit', '--quiet'], at)
  }
  const commit = await git.out(['rev-parse', 'HEAD'], at)
  for (const side of [onto, tip]) {
    if (!(await git.test(['merge-base', '--is-ancestor', side, commit]))) {
      return {
        error: `the result ${commit.slice(0, 12)} does not contain ${side === tip ? "the task's work" : 'the integration branch'}`
      }
    }
  }
  return { commit }
}

/** Conflicted files that still hold markers, tracked or not (git grep sees only tracked ones). */
async function filesWithMarkers(wt: string, files: string[]): Promise<string[]> {
  const found: string[] = []
  for (const file of files) {
    const text = await readFile(path.join(wt, file), 'utf8').catch(() => '')
    if (/^(<<<<<<<|>>>>>>>)( |$)/m.test(text)) found.push(file)
  }
  return found
}
