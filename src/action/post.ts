import * as core from '@actions/core'
import path from 'node:path'
import { Git } from '../core/git/git.js'
import { WorktreeManager } from '../core/git/worktrees.js'
import { coreLogger } from './main.js'

/**
 * The `post:` step. The main step cleans up after itself; this only matters when it was killed
 * (cancellation, job timeout): it removes the worktrees it left registered in the workspace.
 */
export async function cleanup(): Promise<void> {
  const workDir = core.getState('workDir')
  const repoDir = core.getState('repoDir')
  if (!workDir || !repoDir || core.getState('engineDone') === 'true') return
  try {
    const manager = new WorktreeManager(
      new Git(repoDir),
      path.join(workDir, 'worktrees'),
      coreLogger
    )
    await manager.removeAll()
    core.info(`Removed the worktrees an interrupted run left under ${workDir}`)
  } catch (error) {
    core.warning(`Cleanup after an interrupted run failed: ${String(error)}`)
  }
}
