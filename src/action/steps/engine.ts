// The engine on this runner, for the single job and the matrix task job alike.

import * as core from '@actions/core'
import os from 'node:os'
import path from 'node:path'
import { runFanout, type EngineOptions } from '../../core/engine.js'
import { prepareLfs } from '../../core/git/lfs.js'
import { remoteUrl, sameOriginAuth } from '../../core/git/remote.js'
import type { FanoutResult, Task } from '../../core/types.js'
import type { IssueData } from '../../github/api.js'
import { HiddenCredentials } from '../credentials.js'
import { guardFileCommands } from '../file-commands.js'
import { runSecrets } from '../pull-request.js'
import type { Run } from './context.js'

/** What the inputs and the issue decide alike for every run of the engine in this action. */
type FromInputs =
  | 'git'
  | 'logger'
  | 'issue'
  | 'tasks'
  | 'agentCommand'
  | 'agentPreset'
  | 'maxAttempts'
  | 'startIntervalMs'
  | 'maxCostUsd'
  | 'maxParallel'
  | 'taskTimeoutMs'
  | 'branchPrefix'
  | 'workDir'
  | 'identity'
  | 'agentBaseEnv'
  | 'secrets'
  | 'blockWorkflowChanges'
  | 'signal'
  | 'worktreeMode'
  | 'setupCommand'
  | 'sparseCheckout'
  | 'remoteAuth'

/**
 * Runs the engine with the action's inputs and `own` options, in a work dir under RUNNER_TEMP
 * named `workDirName`. The post step is told where it is (if this process dies, it removes what
 * was left behind); the runner's credentials are hidden and the step's file commands guarded
 * while agents run.
 */
export async function runEngine(
  r: Run,
  issue: IssueData,
  tasks: Task[],
  workDirName: string,
  own: Omit<EngineOptions, FromInputs> & Partial<Pick<EngineOptions, 'maxParallel'>>
): Promise<FanoutResult> {
  const { git, logger, inputs } = r
  const workDir = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'agent-fanout', workDirName)
  core.saveState('workDir', workDir)
  core.saveState('repoDir', git.repoDir)
  // Git LFS content for the worktrees, fetched once (before the credentials are hidden, whose
  // restore puts .git/config back as it finds it now): git/lfs.ts.
  await prepareLfs(git, 'origin', own.baseSha, r.auth, logger)
  const hidden = await HiddenCredentials.hide(git, logger)
  const fileCommands = await guardFileCommands(logger)
  try {
    return await runFanout({
      git,
      logger,
      issue: { number: issue.number, title: issue.title, url: issue.url },
      tasks,
      agentCommand: inputs.agentCommand,
      agentPreset: inputs.agentPreset,
      maxAttempts: inputs.maxAttempts,
      startIntervalMs: inputs.startIntervalMs,
      maxCostUsd: inputs.maxCostUsd,
      maxParallel: inputs.maxParallel,
      taskTimeoutMs: inputs.taskTimeoutMs,
      branchPrefix: r.prefix,
      workDir,
      identity: inputs.commitAuthor,
      agentBaseEnv: process.env,
      secrets: runSecrets(inputs),
      blockWorkflowChanges: !inputs.allowWorkflowChanges,
      signal: r.signal,
      worktreeMode: inputs.worktreeMode,
      setupCommand: inputs.setupCommand,
      sparseCheckout: inputs.sparseCheckout,
      // Submodules on origin's host are asked with the same token (git/submodule-remotes.ts).
      remoteAuth: sameOriginAuth(inputs.token, await remoteUrl(git, 'origin')),
      ...own
    })
  } finally {
    await hidden.restore()
    await fileCommands.restore()
  }
}
