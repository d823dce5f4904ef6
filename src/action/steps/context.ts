// What every step of a run shares: the run's collaborators (Run), the logger, background work.

import * as core from '@actions/core'
import type { Git } from '../../core/git/git.js'
import { inertLogText } from '../../core/logger.js'
import type { Logger } from '../../core/types.js'
import type { GitHubApi } from '../../github/api.js'
import type { Trigger } from '../triggers.js'
import type { ActionInputs } from '../inputs.js'

/**
 * @actions/core as the engine's Logger. Every message is made inert (inertLogText): they carry
 * file names, reasons and titles that agents control, and core.info prints its message as is.
 */
export const coreLogger: Logger = {
  debug: (m) => core.debug(inertLogText(m)),
  info: (m) => core.info(inertLogText(m)),
  warning: (m) => core.warning(inertLogText(m)),
  error: (m) => core.error(inertLogText(m)),
  group: (name, fn) => core.group(inertLogText(name), fn)
}

/** Work the step must see finished before it ends (deleting worktree files); never rejects. */
export const backgroundWork: Promise<void>[] = []

/** Resolves once all background work started so far has finished. */
export async function backgroundWorkDone(): Promise<void> {
  await Promise.all(backgroundWork.splice(0))
}

export interface Run {
  inputs: ActionInputs
  api: GitHubApi
  git: Git
  logger: Logger
  issueNumber: number
  prefix: string
  auth: Record<string, string>
  signal: AbortSignal
  trigger: Trigger
}

export function runLink(): string | undefined {
  const server = process.env.GITHUB_SERVER_URL
  const repo = process.env.GITHUB_REPOSITORY
  const runId = process.env.GITHUB_RUN_ID
  return server && repo && runId ? `${server}/${repo}/actions/runs/${runId}` : undefined
}
