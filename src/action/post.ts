import * as core from '@actions/core'
import { context } from '@actions/github'
import path from 'node:path'
import { Git } from '../core/git/git.js'
import { releaseRemoteLock } from '../core/git/lock.js'
import { remoteUrl, tokenAuthConfig } from '../core/git/remote.js'
import { ObjectStoreGuard } from '../core/git/precious.js'
import { WorktreeManager } from '../core/git/worktrees.js'
import { errorMessage } from '../core/util/errors.js'
import { octokitApi } from '../github/api.js'
import { createOctokit } from '../github/client.js'
import { findStatusComments, statusMarker, upsertStatusComment } from '../github/publish.js'
import { coreLogger } from './steps.js'
import { stateBlock } from './state.js'
import { PROGRESS_LABELS } from './triggers.js'

/**
 * The `post:` step. The main step cleans up and reports itself; this only acts when it was
 * killed first (a hard cancel, the job's timeout): it removes the worktrees left behind, says on
 * the issue that the run ended before it could report, and releases the fanout:running label so
 * the issue is not stuck.
 */
export async function cleanup(): Promise<void> {
  const workDir = core.getState('workDir')
  const repoDir = core.getState('repoDir')
  if (workDir && repoDir && core.getState('engineDone') !== 'true') {
    try {
      const git = new Git(repoDir)
      const worktrees = new WorktreeManager(git, path.join(workDir, 'worktrees'), coreLogger)
      await worktrees.removeAll()
      core.info(`Removed the worktrees an interrupted run left under ${workDir}`)
      // The object store's protection (precious.ts) is given back too: git gc works again.
      await ObjectStoreGuard.releaseAbandoned(git, await worktrees.commonDir())
    } catch (error) {
      core.warning(`Cleanup after an interrupted run failed: ${errorMessage(error)}`)
    }
  }
  const [lockRef, lockSha] = core.getState('lock').split(' ')
  if (lockRef && lockSha && repoDir) {
    // The main step died holding the issue lock: free it, or the next run would wait for nothing.
    const token = core.getInput('github-token')
    core.setSecret(token)
    const git = new Git(repoDir, { secrets: [token] })
    await releaseRemoteLock(git, {
      remote: 'origin',
      ref: lockRef,
      sha: lockSha,
      auth: tokenAuthConfig(token, await remoteUrl(git, 'origin')),
      logger: coreLogger
    })
    core.info(`Released the issue lock ${lockRef} the interrupted run held`)
  }
  const issueNumber = Number(core.getState('issueNumber'))
  if (!issueNumber || core.getState('reported') === 'true' || !workDir) return
  try {
    const token = core.getInput('github-token')
    core.setSecret(token)
    const api = octokitApi(createOctokit(token, coreLogger), context.repo.owner, context.repo.repo)
    const existing = await findStatusComments(api, issueNumber)
    const state = stateBlock(existing[0]?.body)
    const runUrl = `${process.env.GITHUB_SERVER_URL}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}`
    const body = [
      statusMarker(issueNumber),
      ...(state ? [state] : []),
      '### agent-fanout: cancelled',
      '',
      `The run was cancelled or stopped before it could report ([workflow run](${runUrl})). Work that had not been pushed is lost; run it again (for example comment \`/fanout run\`) to finish.`
    ].join('\n')
    await upsertStatusComment(api, issueNumber, body, coreLogger, existing)
    await api.addLabels(issueNumber, [PROGRESS_LABELS.attention])
    await api.removeLabel(issueNumber, PROGRESS_LABELS.running)
    core.info(`Reported on #${issueNumber} that the run ended before it could report`)
  } catch (error) {
    core.warning(`Could not report the interrupted run on #${issueNumber}: ${errorMessage(error)}`)
  }
}
