import { randomBytes } from 'node:crypto'
import { mkdir, realpath, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { buildAgentEnv } from './agents/env.js'
import { renderPrompt } from './agents/prompt.js'
import { runAgent } from './agents/run-agent.js'
import { integrationBranchName, taskBranchName, validateBranchPrefix } from './branches.js'
import { assertGitVersion, type Git, type Identity } from './git/git.js'
import { buildIntegration } from './git/merge.js'
import { WorktreeManager } from './git/worktrees.js'
import type { FanoutResult, Logger, Task, TaskResult } from './types.js'
import { mapWithConcurrency } from './util/pool.js'
import { errorMessage } from './util/errors.js'

export interface EngineOptions {
  git: Git
  logger: Logger
  issue: { number: number; title: string; url?: string }
  /** Every task item of the list, checked ones included (they are reported as skipped). */
  tasks: Task[]
  baseBranch: string
  /** Commit every task branch starts from; must exist locally. */
  baseSha: string
  agentCommand: string
  maxParallel: number
  taskTimeoutMs: number
  /** Between SIGTERM and SIGKILL when an agent is ended. */
  killGraceMs?: number
  branchPrefix: string
  /** Private directory for this issue's worktrees, prompts and logs (outside the workspace). */
  workDir: string
  identity: Identity
  /** Environment agents start from (scrubbed further by buildAgentEnv). */
  agentBaseEnv: NodeJS.ProcessEnv
  /** Values that must never reach an agent's environment (tokens). */
  secrets: string[]
  signal?: AbortSignal
}

/** A task whose agent produced commits, waiting for its turn to merge. */
interface Produced {
  tip: string
  changedFiles: string[]
}

/**
 * The whole job without GitHub: one worktree and branch per task, agents in parallel, then one
 * integration branch with a merge commit per task. Publishing is the caller's business.
 */
export async function runFanout(options: EngineOptions): Promise<FanoutResult> {
  const { git, logger } = options
  await assertGitVersion(git)
  await validateBranchPrefix(git, options.branchPrefix)
  const integrationBranch = integrationBranchName(options.branchPrefix)

  await mkdir(options.workDir, { recursive: true })
  const workDir = await realpath(options.workDir)
  const dirs = {
    worktrees: path.join(workDir, 'worktrees'),
    prompts: path.join(workDir, 'prompts'),
    logs: path.join(workDir, 'logs')
  }
  await mkdir(dirs.prompts, { recursive: true })
  await mkdir(dirs.logs, { recursive: true })
  const worktrees = new WorktreeManager(git, dirs.worktrees, logger)
  const runId = randomBytes(6).toString('hex')

  const runnable = options.tasks.filter((t) => !t.checked)
  const produced = new Map<string, Produced>()
  const results = new Map<string, TaskResult>()

  const runTask = async (task: Task): Promise<void> => {
    const branch = taskBranchName(options.branchPrefix, task.id)
    const started = Date.now()
    const finish = (partial: Omit<TaskResult, 'id' | 'title' | 'branch' | 'durationMs'>): void => {
      results.set(task.id, {
        id: task.id,
        title: task.title,
        branch,
        durationMs: Date.now() - started,
        ...partial
      })
    }
    if (options.signal?.aborted) {
      finish({ status: 'failed', changedFiles: [], reason: 'cancelled before it started' })
      return
    }
    const worktree = await worktrees.create(task.id, branch, options.baseSha)
    try {
      const promptFile = path.join(dirs.prompts, `${task.id}.md`)
      await writeFile(
        promptFile,
        renderPrompt({
          issue: options.issue,
          task,
          siblings: options.tasks,
          branch,
          baseBranch: options.baseBranch
        })
      )
      const env = buildAgentEnv(
        options.agentBaseEnv,
        {
          TASK_ID: task.id,
          TASK_TITLE: task.title,
          TASK_BODY: task.body,
          TASK_PROMPT_FILE: promptFile,
          TASK_BRANCH: branch,
          TASK_WORKTREE: worktree.path,
          ISSUE_NUMBER: String(options.issue.number),
          ISSUE_TITLE: options.issue.title,
          BASE_BRANCH: options.baseBranch,
          BASE_SHA: options.baseSha
        },
        {
          secrets: options.secrets,
          identity: options.identity,
          marker: { name: 'AGENT_FANOUT_MARKER', value: `${runId}-${task.id}` }
        }
      )
      const logFile = path.join(dirs.logs, `${task.id}.log`)
      logger.info(`[${task.id}] started: ${task.title}`)
      const run = await runAgent({
        command: options.agentCommand,
        cwd: worktree.path,
        env,
        logFile,
        timeoutMs: options.taskTimeoutMs,
        killGraceMs: options.killGraceMs ?? 5000,
        marker: { name: 'AGENT_FANOUT_MARKER', value: `${runId}-${task.id}` },
        onLine: (line) => logger.info(`[${task.id}] ${line}`),
        signal: options.signal
      })
      const common = {
        logFile,
        logTail: run.logTail,
        exitCode: run.exitCode,
        timedOut: run.timedOut
      }
      if (run.cancelled) {
        finish({ ...common, status: 'failed', changedFiles: [], reason: 'cancelled' })
      } else if (run.timedOut) {
        finish({
          ...common,
          status: 'failed',
          changedFiles: [],
          reason: `timed out after ${formatMinutes(options.taskTimeoutMs)}; its process tree was ended`
        })
      } else if (run.exitCode !== 0) {
        finish({
          ...common,
          status: 'failed',
          changedFiles: [],
          reason:
            run.exitCode === null
              ? `agent was killed by ${run.signal ?? 'a signal'}`
              : `agent exited with status ${run.exitCode}`
        })
      } else {
        const work = await collectWork(git, worktree.path, branch, task, options)
        if ('error' in work) {
          finish({ ...common, status: 'failed', changedFiles: [], reason: work.error })
        } else if (work.changedFiles.length === 0) {
          finish({
            ...common,
            status: 'no-changes',
            changedFiles: [],
            reason: 'the agent changed no file'
          })
        } else {
          produced.set(task.id, work)
          finish({ ...common, status: 'merged', changedFiles: work.changedFiles, commit: work.tip })
        }
      }
      logger.info(`[${task.id}] ${describe(results.get(task.id))}`)
    } finally {
      await worktrees.remove(worktree.path)
    }
    // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind.
    if (!produced.has(task.id)) await git.run(['update-ref', '-d', `refs/heads/${branch}`])
  }

  await worktrees.recover()
  try {
    await logger.group(
      `Run ${runnable.length} agent(s), at most ${options.maxParallel} at once`,
      () =>
        mapWithConcurrency(runnable, options.maxParallel, async (task) => {
          try {
            await runTask(task)
          } catch (error) {
            // A broken worktree or git failure ends this task, not the others.
            results.set(task.id, {
              id: task.id,
              title: task.title,
              branch: taskBranchName(options.branchPrefix, task.id),
              status: 'failed',
              changedFiles: [],
              durationMs: 0,
              reason: `could not run the task: ${errorMessage(error)}`
            })
            logger.warning(`[${task.id}] ${errorMessage(error)}`)
          }
        })
    )
  } finally {
    await worktrees.removeAll()
  }

  const integration = await logger.group('Merge task branches into the integration branch', () =>
    buildIntegration(git, {
      baseSha: options.baseSha,
      integrationBranch,
      candidates: runnable
        .filter((task) => produced.has(task.id))
        .map((task) => ({
          id: task.id,
          branch: taskBranchName(options.branchPrefix, task.id),
          tip: produced.get(task.id)!.tip,
          message: `Merge task ${task.id}: ${task.title}\n\nAgent-Fanout-Task: ${task.id}\nAgent-Fanout-Issue: ${options.issue.number}\n`
        }))
    })
  )
  for (const outcome of integration.outcomes) {
    const result = results.get(outcome.id)!
    if (outcome.merged) {
      logger.info(`${outcome.id}: merged`)
    } else {
      result.status = 'conflicted'
      result.conflict = outcome.conflict
      result.reason = `conflicts with the integration branch in ${outcome.conflict.files.join(', ') || 'the tree'}`
      logger.info(`${outcome.id}: conflicted (${outcome.conflict.files.join(', ')})`)
    }
  }

  return {
    baseBranch: options.baseBranch,
    baseSha: options.baseSha,
    integrationBranch,
    integrationSha: integration.sha,
    tasks: options.tasks.map(
      (task) =>
        results.get(task.id) ?? {
          id: task.id,
          title: task.title,
          status: 'skipped',
          branch: taskBranchName(options.branchPrefix, task.id),
          changedFiles: [],
          durationMs: 0,
          reason: 'checked in the issue (done)'
        }
    )
  }
}

/**
 * Commits what the agent left uncommitted (its own commits are kept), then checks the result
 * still descends from the base and points the task branch at it.
 */
async function collectWork(
  git: Git,
  worktree: string,
  branch: string,
  task: Task,
  options: EngineOptions
): Promise<Produced | { error: string }> {
  await git.run(['add', '--all'], { cwd: worktree })
  const dirty = !(await git.test(['diff', '--cached', '--quiet'], { cwd: worktree }))
  if (dirty) {
    const message = `${task.id}: ${task.title}\n\nAgent-Fanout-Task: ${task.id}\nAgent-Fanout-Issue: ${options.issue.number}\n`
    await git.run(['commit', '--no-verify', '--quiet', '-F', '-'], {
      cwd: worktree,
      stdin: message
    })
  }
  const tip = await git.out(['rev-parse', '--verify', 'HEAD^{commit}'], { cwd: worktree })
  if (!(await git.test(['merge-base', '--is-ancestor', options.baseSha, tip]))) {
    return {
      error: `the agent left HEAD at ${tip.slice(0, 12)}, which does not descend from the base commit`
    }
  }
  await git.run(['update-ref', `refs/heads/${branch}`, tip])
  const changed = await git.out(['diff', '--name-only', '-z', '--no-renames', options.baseSha, tip])
  return { tip, changedFiles: changed.split('\0').filter(Boolean) }
}

function formatMinutes(ms: number): string {
  const minutes = ms / 60000
  return minutes >= 1 ? `${Number(minutes.toFixed(2))} min` : `${Math.round(ms / 1000)} s`
}

function describe(result: TaskResult | undefined): string {
  if (!result) return 'finished'
  if (result.status === 'merged')
    return `finished with ${result.changedFiles.length} changed file(s)`
  return `${result.status}: ${result.reason ?? ''}`
}
