import type { Git } from './git.js'

/** One path a tip changes against the base (`git diff-tree --raw --no-renames`). */
export interface TipChange {
  /** A added, M modified, D deleted, T type changed, … */
  status: string
  /** Mode and object after the change (zeros for a deletion). */
  mode: string
  oid: string
  path: string
}

export interface TipSurvey {
  /** Whether the base is an ancestor of the tip (a tip equal to the base counts). */
  descends: boolean
  /** Commits reachable from the tip but not from the base (empty unless it descends). */
  commits: string[]
  /** Whether the tip has commits the base lacks at all (descending from it or not). */
  own: boolean
  /** Every path that differs between the base and the tip. */
  changes: TipChange[]
}

/**
 * Where each of many commits stands against one base, in two git processes whatever their
 * number (both at once): `rev-list --parents <tips> --not <base>` for the ancestry and the
 * commits each tip adds, `diff-tree --stdin` for the paths each one changes. Spawning is most
 * of what a git call costs on a small runner, so a fan-out asks once for all its tasks instead
 * of twice per task.
 */
export async function surveyTips(
  git: Git,
  baseSha: string,
  tips: readonly string[]
): Promise<Map<string, TipSurvey>> {
  const surveys = new Map<string, TipSurvey>()
  const unique = [...new Set(tips)].filter((tip) => tip !== baseSha)
  if (tips.includes(baseSha))
    surveys.set(baseSha, { descends: true, commits: [], own: false, changes: [] })
  if (unique.length === 0) return surveys
  const [revs, diff] = await Promise.all([
    git.out(['rev-list', '--parents', ...unique, '--not', baseSha]),
    git
      .run(['diff-tree', '--stdin', '-r', '-z', '--no-renames', '--always'], {
        stdin: unique.map((tip) => `${tip} ${baseSha}\n`).join('')
      })
      .then((result) => result.stdout)
  ])

  // A tip descends from the base when a walk through the commits the base lacks reaches a
  // commit whose parent is the base: every commit between the two is one the base lacks.
  const graph = new Map<string, string[]>()
  for (const line of revs.split('\n').filter(Boolean)) {
    const [commit, ...parents] = line.split(' ')
    graph.set(commit, parents)
  }
  for (const tip of unique) {
    const seen = new Set<string>()
    let descends = false
    const stack = graph.has(tip) ? [tip] : []
    while (stack.length) {
      const commit = stack.pop()!
      if (seen.has(commit)) continue
      seen.add(commit)
      for (const parent of graph.get(commit)!) {
        if (graph.has(parent)) stack.push(parent)
        else if (parent === baseSha) descends = true
      }
    }
    surveys.set(tip, {
      descends,
      commits: descends ? [...seen] : [],
      own: graph.has(tip),
      changes: []
    })
  }

  // `<tip>\0` (always, from --always), then `:<old mode> <new mode> <old oid> <new oid> <status>\0
  // <path>\0` per change: a field starting with ':' is a change, anything else the next tip.
  const fields = diff.split('\0')
  let current: TipSurvey | undefined
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    if (field === '') continue
    if (!field.startsWith(':')) {
      current = surveys.get(field.trim())
      continue
    }
    const [, mode, , oid, status] = field.slice(1).split(' ')
    const file = fields[++i]
    current?.changes.push({ status, mode, oid, path: file })
  }
  return surveys
}
