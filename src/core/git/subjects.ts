import type { Git } from './git.js'

/**
 * The subjects of the commits a task made (`base..tip`, merges left out), newest first, at most
 * `max` of them; `more` counts the rest. Read with argv (no shell); they are the agent's text,
 * to be shown as text. A branch whose objects are not here has none (an empty list).
 */
export async function commitSubjects(
  git: Git,
  base: string,
  tip: string,
  max = 10
): Promise<{ subjects: string[]; more: number }> {
  try {
    const [log, count] = await Promise.all([
      git.out(['log', '--no-merges', `--max-count=${max}`, '--format=%s', `${base}..${tip}`, '--']),
      git.out(['rev-list', '--no-merges', '--count', `${base}..${tip}`, '--'])
    ])
    const subjects = log ? log.split('\n') : []
    return { subjects, more: Math.max(0, Number(count) - subjects.length) }
  } catch {
    return { subjects: [], more: 0 }
  }
}

/** commitSubjects for each task that has a commit, by task ID. */
export async function taskCommitSubjects(
  git: Git,
  base: string,
  tasks: { id: string; commit?: string }[]
): Promise<Map<string, { subjects: string[]; more: number }>> {
  const entries = await Promise.all(
    tasks
      .filter((t) => t.commit)
      .map(async (t) => [t.id, await commitSubjects(git, base, t.commit!)] as const)
  )
  return new Map(entries)
}
