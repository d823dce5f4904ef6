import { UserError } from '../util/errors.js'

/**
 * Refuses, as git itself would, a run that would move a branch some worktree of the repository
 * has checked out (the integration branch or a task branch a person switched to, as the conflict
 * report suggests): `update-ref` moves a branch without asking, and the checkout's files and
 * index would then silently disagree with its HEAD. `checkedOut` maps branch names to the
 * worktree that has them (WorktreeManager.recover()).
 */
export function refuseCheckedOut(
  branches: string[],
  checkedOut: ReadonlyMap<string, string>
): void {
  const clashes = [...new Set(branches)].filter((branch) => checkedOut.has(branch))
  if (clashes.length === 0) return
  const where = clashes.map((b) => `'${b}' is already checked out at '${checkedOut.get(b)}'`)
  throw new UserError(
    `${where.join('; ')}. agent-fanout would have to move ${clashes.length > 1 ? 'these branches' : 'that branch'} under that checkout, so nothing was started. Switch that worktree to another branch (for example \`git switch --detach\` in it), then run again.`
  )
}
