import type { Logger } from '../core/types.js'
import type { CommentData, GitHubApi, PullData } from './api.js'

/** Hidden marker that finds our status comment again, so reruns edit it instead of adding one. */
export function statusMarker(issueNumber: number): string {
  return `<!-- agent-fanout:status issue=${issueNumber} -->`
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status
  return typeof status === 'number' ? status : undefined
}

/**
 * The status comment of an earlier run, found by its marker. Anyone can paste the marker into
 * a comment, so comments written by a bot come first.
 */
export async function findStatusComments(
  api: GitHubApi,
  issueNumber: number
): Promise<CommentData[]> {
  const marker = statusMarker(issueNumber)
  return (await api.listComments(issueNumber))
    .filter((c) => c.body.includes(marker))
    .sort((a, b) => Number(b.authorType === 'Bot') - Number(a.authorType === 'Bot'))
}

/**
 * Creates the status comment, or edits the one found by its marker (`known`, when the caller
 * already looked). One we may not edit is passed over rather than fatal.
 */
export async function upsertStatusComment(
  api: GitHubApi,
  issueNumber: number,
  body: string,
  logger: Logger,
  known?: CommentData[]
): Promise<{ id: number; url: string; created: boolean }> {
  for (const candidate of known ?? (await findStatusComments(api, issueNumber))) {
    try {
      const updated = await api.updateComment(candidate.id, body)
      return { id: updated.id, url: updated.url, created: false }
    } catch (error) {
      const status = httpStatus(error)
      if (status !== 403 && status !== 404) throw error
      logger.warning(
        `Could not edit comment ${candidate.id} carrying the status marker (HTTP ${status}); trying the next`
      )
    }
  }
  const created = await api.createComment(issueNumber, body)
  return { id: created.id, url: created.url, created: true }
}

/** Opens the pull request from head to base, or updates the open one; never a second one. */
export async function upsertPullRequest(
  api: GitHubApi,
  pull: { head: string; base: string; title: string; body: string; draft: boolean }
): Promise<PullData & { created: boolean }> {
  const existing = await api.findOpenPull(pull.head, pull.base)
  if (existing) {
    return {
      ...(await api.updatePull(existing.number, { title: pull.title, body: pull.body })),
      created: false
    }
  }
  try {
    return { ...(await api.createPull(pull)), created: true }
  } catch (error) {
    // A concurrent run may have opened it between our lookup and our create.
    if (httpStatus(error) === 422 && /already exists/i.test(String((error as Error).message))) {
      const raced = await api.findOpenPull(pull.head, pull.base)
      if (raced)
        return {
          ...(await api.updatePull(raced.number, { title: pull.title, body: pull.body })),
          created: false
        }
    }
    throw error
  }
}
