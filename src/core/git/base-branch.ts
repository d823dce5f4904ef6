import { UserError } from '../util/errors.js'
import type { Git } from './git.js'

// A base branch is a branch: `release/1.x` means refs/heads/release/1.x (on the remote, the ref
// fetched from its refs/heads/), never a tag or another ref that happens to share the name.
// git's own lookup of a bare name (`git rev-parse release/1.x`) tries refs/tags/ before
// refs/heads/, so a tag of the same name would silently win.

/**
 * The branch name in what the user gave: `refs/heads/x` is taken as `x`; anything that is not a
 * valid branch name (`a..b`, `x:y`, `*`, a leading `-`) is refused with a message naming it.
 */
export async function baseBranchName(git: Git, given: string, what: string): Promise<string> {
  const name = given.trim().replace(/^refs\/heads\//, '')
  const valid =
    name !== '' &&
    !name.startsWith('-') &&
    (await git.test(['check-ref-format', `refs/heads/${name}`], { okExitCodes: [128] }))
  if (!valid)
    throw new UserError(`${what} "${given}" is not a branch name (like main or release/1.x).`)
  return name
}

/**
 * The commit local branch `name` points at (refs/heads/<name>). When there is no such branch,
 * the error says what the name is instead (a tag, a remote-tracking branch) and what to do.
 */
export async function localBranchTip(
  git: Git,
  name: string,
  opts: { what: string; where: string }
): Promise<string> {
  const found = await git.run(['rev-parse', '--verify', '-q', `refs/heads/${name}^{commit}`], {
    okExitCodes: [1]
  })
  if (found.exitCode === 0) return found.stdout.trim()
  const others = await git.out([
    'for-each-ref',
    '--format=%(refname)',
    `refs/tags/${name}`,
    `refs/remotes/${name}`
  ])
  const refs = others.split('\n')
  let hint = `Pass an existing branch.`
  if (refs.includes(`refs/tags/${name}`))
    hint = `"${name}" is a tag there, not a branch: tasks start from a branch. Make one (git branch <new-branch> refs/tags/${name}) and pass that.`
  else if (refs.includes(`refs/remotes/${name}`))
    hint = `"${name}" is a remote-tracking branch there, not a branch of that repository: pass the local branch (git switch ${name.slice(name.indexOf('/') + 1)} makes one from it).`
  throw new UserError(`${opts.what} "${name}": no branch of that name in ${opts.where}. ${hint}`)
}

/**
 * The error for a base branch the remote does not have (what `git fetch` of its refs/heads/
 * ref failed on), saying when the name is one of the remote's tags instead.
 */
export async function missingRemoteBranch(
  git: Git,
  remote: string,
  name: string,
  auth: Record<string, string>
): Promise<Error> {
  const tags = await git
    .out(['ls-remote', '--tags', remote, `refs/tags/${name}`], { config: auth })
    .catch(() => '')
  const isTag = tags.split('\n').some((line) => line.split('\t')[1] === `refs/tags/${name}`)
  return new UserError(
    `The base branch "${name}" does not exist on ${remote}${
      isTag ? ` (it has a tag of that name; the base must be a branch)` : ''
    }. Set base-branch to an existing branch, or leave it empty for the default branch.`
  )
}
