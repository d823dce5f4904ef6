// Where a task that depends on other tasks starts: the base with its dependencies' branches
// merged in, one `git merge --no-ff` each, in the order integration merges them (dependency
// order). Its agent so sees their files, and its branch holds their work; integration later
// merges it after them, so the integration branch is still what merging the task branches in
// that order with `git merge --no-ff` gives.
//
// Why not the integration branch as merged so far: integration runs after the agents, so it
// would have to run while they do, and a task's start would then hold whatever unrelated tasks
// happened to finish first: a start that depends on timing, and unrelated conflicts that stop a
// task that does not need that work. The merge of its own dependencies depends on nothing else.

import { MergeAttributes } from '../git/attributes.js'
import type { Git } from '../git/git.js'
import { commitMerge, mergeTree } from '../git/merge.js'

/** A finished dependency: its branch's tip is what the dependent builds on. */
export interface DependencyWork {
  id: string
  title: string
  tip: string
}

export type StartCommit =
  | { sha: string }
  /** Its dependencies do not merge cleanly with each other (or the base): no start. */
  | { conflict: { files: string[]; messages: string[] }; reason: string }

/**
 * The commit `taskId` starts from: `baseSha` when it builds on nothing, else the base with each
 * of `dependencies` (in dependency order) merged in with a merge commit, skipping one that an
 * earlier one already holds. Merge drivers follow the .gitattributes of the commit merged into,
 * as in integration (attributes.ts).
 */
export async function buildStartCommit(
  git: Git,
  options: { baseSha: string; taskId: string; dependencies: readonly DependencyWork[] }
): Promise<StartCommit> {
  const { baseSha, taskId, dependencies } = options
  if (dependencies.length === 0) return { sha: baseSha }
  const attributes = new MergeAttributes(
    git,
    baseSha,
    dependencies.map((d) => d.tip)
  )
  try {
    let current = baseSha
    const merged: DependencyWork[] = []
    for (const dep of dependencies) {
      if (await git.test(['merge-base', '--is-ancestor', dep.tip, current])) continue
      const result = await mergeTree(
        git,
        current,
        dep.tip,
        await attributes.forMerge(current, dep.tip)
      )
      if (!result.clean) {
        const onto = merged.length ? merged.map((m) => m.id).join(' and ') : 'the base'
        const files = result.files.join(', ') || 'the tree'
        return {
          conflict: { files: result.files, messages: result.messages },
          reason: `the work of ${dep.id} conflicts with ${onto} in ${files}, so ${taskId} has no start that holds all of its dependencies`
        }
      }
      const message = `Merge task ${dep.id} into the start of task ${taskId}: ${dep.title}\n`
      current = await commitMerge(git, result.tree, current, dep.tip, message)
      attributes.merged(current, dep.tip)
      merged.push(dep)
    }
    return { sha: current }
  } finally {
    await attributes.dispose()
  }
}
