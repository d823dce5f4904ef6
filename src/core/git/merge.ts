import type { ConflictInfo } from '../types.js'
import type { Git, GitRunOptions } from './git.js'

/** A merge commit of `tree` with parents ours and theirs (`git merge --no-ff` shape). */
export async function commitMerge(
  git: Git,
  tree: string,
  ours: string,
  theirs: string,
  message: string
): Promise<string> {
  return git.out(['commit-tree', tree, '-p', ours, '-p', theirs, '-F', '-'], { stdin: message })
}

/** Files, git's messages, and the marked regions (labelled with branch names) of a conflict. */
export async function conflictInfo(
  git: Git,
  merged: MergeTreeResult,
  ours: { sha: string; name: string },
  theirs: { sha: string; name: string }
): Promise<ConflictInfo> {
  const hunks = await conflictHunks(git, merged.tree, merged.files)
  return {
    files: merged.files,
    hunks: relabel(hunks, ours.sha, ours.name, theirs.sha, theirs.name),
    messages: merged.messages
  }
}

export interface MergeTreeResult {
  clean: boolean
  tree: string
  files: string[]
  messages: string[]
}

/**
 * One `git merge-tree --write-tree -z` call, parsed. `options` (MergeAttributes.forMerge) say
 * where git reads .gitattributes from.
 */
export async function mergeTree(
  git: Git,
  ours: string,
  theirs: string,
  options: GitRunOptions = {}
): Promise<MergeTreeResult> {
  const result = await git.run(['merge-tree', '--write-tree', '-z', '--messages', ours, theirs], {
    ...options,
    okExitCodes: [1]
  })
  // Output: <tree>NUL, then (on conflict) "<mode> <oid> <stage>\t<path>" NUL-separated,
  // an empty field, then messages as <n>NUL<path>*n <type>NUL<message>NUL.
  const fields = result.stdout.split('\0')
  const tree = fields[0]
  const files: string[] = []
  let i = 1
  if (result.exitCode === 1) {
    for (; i < fields.length && fields[i] !== ''; i++) {
      const tab = fields[i].indexOf('\t')
      const file = fields[i].slice(tab + 1)
      if (!files.includes(file)) files.push(file)
    }
  }
  i++ // skip the empty separator field
  const messages: string[] = []
  while (i < fields.length) {
    const count = Number(fields[i])
    if (!Number.isInteger(count) || fields[i] === '') break
    const type = fields[i + 1 + count]
    const message = (fields[i + 2 + count] ?? '').trim()
    if (type && !type.startsWith('Auto-merging')) messages.push(message)
    i += count + 3
  }
  return { clean: result.exitCode === 0, tree, files, messages }
}

const MAX_HUNKS_PER_FILE = 4
const MAX_LINES_PER_HUNK = 40
const CONTEXT_LINES = 3

/** Reads the conflicted files from the merge result tree and cuts out the marked regions. */
async function conflictHunks(
  git: Git,
  tree: string,
  files: string[]
): Promise<{ file: string; text: string }[]> {
  const hunks: { file: string; text: string }[] = []
  for (const file of files.slice(0, 20)) {
    const blob = await git.run(['cat-file', 'blob', `${tree}:${file}`], { okExitCodes: [128] })
    if (blob.exitCode !== 0) continue // deleted on one side: git's message says so
    if (blob.stdout.includes('\0')) {
      hunks.push({ file, text: '(binary file: both sides changed it)' })
      continue
    }
    for (const text of extractConflictRegions(blob.stdout).slice(0, MAX_HUNKS_PER_FILE)) {
      hunks.push({ file, text })
    }
  }
  return hunks
}

/** Cuts `<<<<<<< ... >>>>>>>` regions, with a little context, out of a file's text. */
export function extractConflictRegions(content: string): string[] {
  const lines = content.split('\n')
  const regions: string[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('<<<<<<< ')) continue
    let end = i
    while (end < lines.length && !lines[end].startsWith('>>>>>>> ')) end++
    const from = Math.max(0, i - CONTEXT_LINES)
    const to = Math.min(lines.length - 1, end + CONTEXT_LINES)
    let region = lines.slice(from, to + 1)
    if (region.length > MAX_LINES_PER_HUNK) {
      const omitted = region.length - MAX_LINES_PER_HUNK
      region = [
        ...region.slice(0, MAX_LINES_PER_HUNK / 2),
        `... (${omitted} lines omitted) ...`,
        ...region.slice(-MAX_LINES_PER_HUNK / 2)
      ]
    }
    regions.push(region.join('\n'))
    i = end
  }
  return regions
}

/** Conflict markers name commit ids; name the branches instead, as `git merge` would. */
function relabel(
  hunks: { file: string; text: string }[],
  oursSha: string,
  oursName: string,
  theirsSha: string,
  theirsName: string
): { file: string; text: string }[] {
  return hunks.map(({ file, text }) => ({
    file,
    text: text.split(oursSha).join(oursName).split(theirsSha).join(theirsName)
  }))
}
