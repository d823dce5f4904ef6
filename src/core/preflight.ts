import type { Git } from './git/git.js'
import { UserError } from './util/errors.js'

// git keeps refs as paths: a branch `a/b` and a branch `a/b/c` cannot both exist, any more than
// a file and a directory of one name. A run needs `<prefix>/<task>` and `<prefix>/integration`;
// a branch `<prefix>` (or one above it), or one below a name the run needs, makes every ref
// update of the run fail. Found before any agent starts, it is one clear refusal instead.

/** A ref in the way of a branch the run needs. */
export interface BranchClash {
  /** The branch the run needs (short name). */
  needed: string
  /** The existing branch in its way (short name). */
  existing: string
}

const HEADS = 'refs/heads/'

/** Clashes between the branches a run needs and existing ones (short names, no refs/heads/). */
export function findBranchClashes(
  needed: readonly string[],
  existing: Iterable<string>
): BranchClash[] {
  const wanted = new Set(needed)
  // Every proper "directory" of a needed name, with the names below it.
  const above = new Map<string, string[]>()
  for (const name of wanted) {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      above.set(dir, [...(above.get(dir) ?? []), name])
    }
  }
  const clashes: BranchClash[] = []
  for (const ref of existing) {
    if (wanted.has(ref)) continue
    for (const name of above.get(ref) ?? []) clashes.push({ needed: name, existing: ref })
    const parts = ref.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (wanted.has(dir)) clashes.push({ needed: dir, existing: ref })
    }
  }
  return clashes
}

/** Clashes with this repository's branches, from one `for-each-ref`. */
export async function localBranchClashes(git: Git, needed: string[]): Promise<BranchClash[]> {
  const tops = [...new Set(needed.map((name) => name.split('/')[0]))]
  if (tops.length === 0) return []
  // A pattern matches the ref of that name and every ref below it.
  const out = await git.out(['for-each-ref', '--format=%(refname)', ...tops.map((t) => HEADS + t)])
  return findBranchClashes(needed, shortNames(out.split('\n')))
}

/** Clashes with the branches of `remote`, from one `ls-remote`. */
export async function remoteBranchClashes(
  git: Git,
  remote: string,
  needed: string[],
  auth: Record<string, string>
): Promise<BranchClash[]> {
  if (needed.length === 0) return []
  // ls-remote matches patterns against the end of a ref name (`*` spans slashes): every
  // "directory" of a needed name exactly, and whatever lies below the names themselves.
  const patterns = new Set<string>()
  for (const name of needed) {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) patterns.add(HEADS + parts.slice(0, i).join('/'))
    patterns.add(`${HEADS}${name}/*`)
  }
  const out = await git.out(['ls-remote', '--heads', remote, ...patterns], { config: auth })
  return findBranchClashes(
    needed,
    shortNames(out.split('\n').map((line) => line.slice(line.indexOf('\t') + 1)))
  )
}

function shortNames(refs: string[]): string[] {
  return refs.filter((ref) => ref.startsWith(HEADS)).map((ref) => ref.slice(HEADS.length))
}

/**
 * One message for all clashes: which branch is in the way of which, that nothing was started,
 * and the two ways out (move the branch, or use another prefix).
 */
export function branchClashMessage(
  clashes: BranchClash[],
  where: {
    place: string
    deleteHint: (branch: string) => string
    /** How a branch name is shown (markdown: a code span), as is by default. */
    name?: (branch: string) => string
  }
): string {
  const show = where.name ?? ((branch: string) => branch)
  const byExisting = new Map<string, string[]>()
  for (const { existing, needed } of clashes)
    byExisting.set(existing, [...new Set([...(byExisting.get(existing) ?? []), needed])])
  const lines = [...byExisting].slice(0, 10).map(([existing, needed]) => {
    const shown =
      needed.slice(0, 3).map(show).join(', ') +
      (needed.length > 3 ? ` and ${needed.length - 3} more` : '')
    return `the branch ${show(existing)} ${where.place} is in the way of ${shown}`
  })
  if (byExisting.size > 10) lines.push(`and ${byExisting.size - 10} more`)
  const first = [...byExisting.keys()][0]
  return [
    `The branches this run needs clash with existing ones: ${lines.join('; ')}.`,
    'git cannot hold a branch and another branch inside its name (a/b and a/b/c). Nothing was started.',
    `Delete or rename the branch in the way (${show(where.deleteHint(first))}), or choose another branch prefix (the branch-prefix input, or --branch-prefix).`
  ].join(' ')
}

/** Refuses (before any agent starts) branches the repository cannot hold. */
export async function refuseLocalBranchClashes(git: Git, needed: string[]): Promise<void> {
  const clashes = await localBranchClashes(git, needed)
  if (clashes.length === 0) return
  throw new UserError(
    branchClashMessage(clashes, {
      place: `in ${git.repoDir}`,
      deleteHint: (branch) => `git branch -m ${branch} <new name>`
    })
  )
}

/** `text` as one markdown code span, whatever backticks it holds (ref names may have some). */
export function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length))
  const fence = '`'.repeat(longest + 1)
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : ''
  return `${fence}${pad}${text}${pad}${fence}`
}
