// Each task's full log as a workflow artifact (@actions/artifact), so its row in the status
// comment can link to it. The artifact service is reached with the runner's ACTIONS_RUNTIME_TOKEN
// and ACTIONS_RESULTS_URL; outside a hosted runner (act, local runs) they are missing or not the
// service's, and logs stay on the runner (said once in the log). An upload that fails costs only
// its link: one warning, and no further tries in this run.
//
// The log is uploaded as written, not archived (`skipArchive`), so it opens in the browser.
// Like the job log, it holds what the agent printed; unlike the job log, the runner does not
// mask secrets in it (the token never reaches agents; agents' own keys are theirs to keep out).

import { DefaultArtifactClient } from '@actions/artifact'
import { copyFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'

export interface LogUploader {
  /** Uploads the log; resolves to its web address, or undefined when it was not uploaded. */
  upload(taskId: string, logFile: string): Promise<string | undefined>
}

/** Why the artifact service cannot be used here, or undefined when it can. */
export function artifactServiceMissing(env: NodeJS.ProcessEnv): string | undefined {
  const token = env.ACTIONS_RUNTIME_TOKEN
  if (!token || !env.ACTIONS_RESULTS_URL)
    return 'ACTIONS_RUNTIME_TOKEN or ACTIONS_RESULTS_URL is not set (not on a GitHub-hosted or self-hosted Actions runner)'
  const scopes = jwtScopes(token)
  if (!scopes.some((s) => /^Actions\.Results:[^:]+:[^:]+$/.test(s)))
    return 'the runtime token carries no artifact scope (an emulated runner?)'
  if (!env.GITHUB_RUN_ID || !env.GITHUB_REPOSITORY) return 'GITHUB_RUN_ID is not set'
  return undefined
}

function jwtScopes(token: string): string[] {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
    return typeof payload?.scp === 'string' ? payload.scp.split(' ') : []
  } catch {
    return []
  }
}

/** The artifact name of a task's log: unique per issue, task and run attempt. */
export function logArtifactName(issueNumber: number, taskId: string, attempt: string): string {
  return `agent-fanout-log-${issueNumber}-${taskId}-attempt-${attempt}.txt`
}

export function logUploader(options: {
  issueNumber: number
  logger: Logger
  /** A folder of our own where the logs are copied under their artifact names. */
  stagingDir: string
  env?: NodeJS.ProcessEnv
}): LogUploader | undefined {
  const env = options.env ?? process.env
  const missing = artifactServiceMissing(env)
  if (missing) {
    options.logger.info(`Task logs are not uploaded as artifacts: ${missing}`)
    return undefined
  }
  const client = new DefaultArtifactClient()
  const server = env.GITHUB_SERVER_URL || 'https://github.com'
  const runPage = `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
  let broken = false
  return {
    async upload(taskId, logFile) {
      if (broken) return undefined
      const name = logArtifactName(options.issueNumber, taskId, env.GITHUB_RUN_ATTEMPT || '1')
      try {
        await mkdir(options.stagingDir, { recursive: true })
        const staged = path.join(options.stagingDir, name)
        await copyFile(logFile, staged)
        const { id } = await client.uploadArtifact(name, [staged], options.stagingDir, {
          skipArchive: true
        })
        return id === undefined ? undefined : `${runPage}/artifacts/${id}`
      } catch (error) {
        broken = true
        options.logger.warning(
          `Could not upload the log of ${taskId} as an artifact (${errorMessage(error)}); logs stay in the job log and on the runner`
        )
        return undefined
      }
    }
  }
}
