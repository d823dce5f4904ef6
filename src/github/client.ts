import { getOctokit } from '@actions/github'
import { retry } from '@octokit/plugin-retry'
import { throttling } from '@octokit/plugin-throttling'
import type { Logger } from '../core/types.js'

export type Octokit = ReturnType<typeof getOctokit>

/** Ceiling on REST calls per run: a runaway loop must not eat the repository's hourly budget. */
export const DEFAULT_MAX_API_CALLS = 300

/**
 * Octokit with GitHub's recommended manners: 5xx and network errors retried with backoff
 * (plugin-retry), primary and secondary rate limits waited out honouring `retry-after`
 * (plugin-throttling), 4xx never retried, and a hard cap on calls per run.
 * The base URL comes from GITHUB_API_URL (GHES and the test stand-in alike).
 */
/** Throttling handler: log, then retry twice at most (the plugin waits retry-after). */
function retryLimitedFor(logger: Logger) {
  return (what: string) =>
    (
      retryAfter: number,
      request: { method: string; url: string },
      _o: unknown,
      retryCount: number
    ): boolean => {
      logger.warning(
        `GitHub API ${what} on ${request.method} ${request.url}; retrying in ${retryAfter}s`
      )
      return retryCount < 2
    }
}

export function createOctokit(
  token: string,
  logger: Logger,
  options: { maxCalls?: number } = {}
): Octokit {
  const retryLimited = retryLimitedFor(logger)
  const octokit = getOctokit(
    token,
    {
      throttle: {
        onRateLimit: retryLimited('rate limit'),
        onSecondaryRateLimit: retryLimited('secondary rate limit')
      },
      retry: { doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] }
    },
    retry,
    throttling
  )
  // A plain 429 (no "secondary rate limit" wording, quota not at zero) is left alone by the
  // throttling plugin: wait what the server asks, twice at most.
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(options)
      } catch (error) {
        const e = error as {
          status?: number
          response?: { headers?: Record<string, string | undefined> }
        }
        if (e.status !== 429 || attempt >= 2) throw error
        const wait = Math.min(Number(e.response?.headers?.['retry-after']) || 1, 60)
        logger.warning(
          `GitHub API answered 429 to ${options.method} ${options.url}; retrying in ${wait}s`
        )
        await new Promise((resolve) => setTimeout(resolve, wait * 1000))
      }
    }
  })
  let calls = 0
  const maxCalls = options.maxCalls ?? DEFAULT_MAX_API_CALLS
  octokit.hook.before('request', (request) => {
    calls++
    if (calls > maxCalls) {
      throw new Error(
        `agent-fanout stopped after ${maxCalls} GitHub API calls in one run (last: ${request.method} ${request.url}); this looks like a loop, please report it.`
      )
    }
  })
  return octokit
}
