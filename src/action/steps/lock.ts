// The issue lock and the progress labels: one run per issue at a time, its state on the issue.

import * as core from '@actions/core'
import { acquireRemoteLock } from '../../core/git/lock.js'
import { errorMessage } from '../../core/util/errors.js'
import type { GitHubApi } from '../../github/api.js'
import { PROGRESS_LABELS } from '../triggers.js'
import { whileDiskAllows } from '../file-commands.js'
import { type Run, runLink } from './context.js'

/**
 * One run per issue at a time, across runners: a second one waits, then works from the state
 * the first left (read inside fn, after the lock), so its request is served rather than lost.
 * While fn runs the issue carries fanout:running (a scheduled sweep skips it); afterwards
 * fanout:done or fanout:needs-attention.
 */
export async function withIssueLock(
  r: Run,
  issueNumber: number,
  fn: () => Promise<'done' | 'attention'>
): Promise<void> {
  const { api, logger, inputs } = r
  const lock = await logger.group('Take the issue lock', () =>
    acquireRemoteLock(r.git, {
      remote: 'origin',
      ref: `refs/agent-fanout/locks/issue-${issueNumber}`,
      holder: runLink() ?? `run ${process.env.GITHUB_RUN_ID ?? process.pid}`,
      auth: r.auth,
      waitMs: Math.min(inputs.deadlineMs ?? LOCK_WAIT_MS, LOCK_WAIT_MS),
      logger,
      signal: r.signal
    })
  )
  core.saveState('lock', `${lock.ref} ${lock.sha}`)
  let finished: 'done' | 'attention' = 'attention'
  try {
    await setProgressLabel(api, issueNumber, PROGRESS_LABELS.running)
    finished = await fn()
  } finally {
    await lock.release()
    await whileDiskAllows("the post step's state", () => core.saveState('lock', ''))
    const label = finished === 'done' ? PROGRESS_LABELS.done : PROGRESS_LABELS.attention
    await setProgressLabel(api, issueNumber, label).catch((e: unknown) =>
      logger.warning(`Could not update the progress labels: ${errorMessage(e)}`)
    )
  }
}

/** How long a run waits for another run on the same issue to finish. */
const LOCK_WAIT_MS = 30 * 60 * 1000

/** Puts `label` on the issue and takes the other progress labels off. */
export async function setProgressLabel(
  api: GitHubApi,
  issueNumber: number,
  label: string
): Promise<void> {
  // Only labels the issue carries are taken off: each write is paced a second apart (the
  // throttling plugin), and the live status comment waits behind them.
  const carried = new Set(
    (await api.addLabels(issueNumber, [label])).map((name) => name.toLowerCase())
  )
  for (const other of Object.values(PROGRESS_LABELS)) {
    if (other !== label && carried.has(other.toLowerCase()))
      await api.removeLabel(issueNumber, other)
  }
}
