import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { buildAgentEnv, withheldFromAgents } from '../agents/env.js'
import type { FifoPool } from '../agents/fifos.js'
import { isolate } from '../agents/presets/index.js'
import { runAgent, type AgentRunResult } from '../agents/run-agent.js'
import { subreaperAvailable } from '../agents/subreaper.js'
import type { Worktree } from '../git/worktrees.js'
import type { Task } from '../types.js'
import { noSpaceAt } from '../util/no-space.js'
import type { EngineOptions } from './options.js'
import type { Workspace } from './prepare.js'

/** One agent process to start: for a task's run, re-run or resolve. */
export interface AgentStart {
  task: Task
  wt: Worktree
  /** Names its prompt, log and marker: the task ID, or `T1-rerun1`, `T1-resolve`. */
  slot: string
  command: string
  prompt: string
  /** TASK_MODE and the like. */
  extraEnv: Record<string, string>
  /** The commit the worktree starts at (BASE_SHA). */
  startSha: string
}

export type AgentStarter = (start: AgentStart) => Promise<{ run: AgentRunResult; logFile: string }>

/**
 * Starts agents: writes the prompt file, isolates the preset's config, builds the scrubbed
 * environment (never the token) and runs the command in its worktree until it ends.
 */
export function agentStarter(ws: Workspace, fifos: FifoPool): AgentStarter {
  const { options, logger } = ws
  // Said once: without the subreaper a daemon that clears its environment can outlive its task.
  const reaperNote = subreaperAvailable().then((ok) => {
    if (!ok)
      logger.debug(
        'no child subreaper here (needs Linux and perl): agents run without the supervisor'
      )
  })
  return async ({ task, wt, slot, command, prompt, extraEnv, startSha }) => {
    const promptFile = path.join(ws.dirs.prompts, `${slot}.md`)
    await writeFile(promptFile, prompt).catch(
      noSpaceAt(`while writing the prompt file ${promptFile}`)
    )
    const isolation = options.agentPreset
      ? await isolate(
          options.agentPreset,
          path.join(ws.dirs.root, 'agent-state', slot),
          options.agentBaseEnv
        )
      : undefined
    const privateEnv = Object.fromEntries(
      Object.entries(isolation?.env ?? {}).filter(
        ([name, value]) => !withheldFromAgents(name, value, options.secrets)
      )
    )
    const env = buildAgentEnv(
      options.agentBaseEnv,
      {
        ...privateEnv,
        TASK_ID: task.id,
        TASK_TITLE: task.title,
        TASK_BODY: task.body,
        TASK_PROMPT_FILE: promptFile,
        TASK_BRANCH: ws.branchOf(task),
        TASK_WORKTREE: wt.path,
        ISSUE_NUMBER: String(options.issue.number),
        ISSUE_TITLE: options.issue.title,
        BASE_BRANCH: options.baseBranch,
        BASE_SHA: startSha,
        ...extraEnv
      },
      { secrets: options.secrets, identity: options.identity, marker: ws.marker(slot) }
    )
    const logFile = path.join(ws.dirs.logs, `${slot}.log`)
    await reaperNote
    const run = await runAgent({
      command,
      cwd: wt.path,
      env,
      logFile,
      timeoutMs: options.taskTimeoutMs,
      killGraceMs: options.killGraceMs ?? 5000,
      marker: ws.marker(slot),
      onLine: (line) => logger.info(`[${slot}] ${line}`),
      signal: options.signal,
      fifoPool: fifos
    }).finally(() => isolation?.dispose())
    return { run, logFile }
  }
}

/** Why an agent (or a resolve or verify command) failed, in words; undefined when it did not. */
export function failure(
  options: Pick<EngineOptions, 'signal' | 'taskTimeoutMs'>,
  run: AgentRunResult,
  what = 'agent'
): string | undefined {
  if (run.cancelled) {
    return options.signal?.reason === 'deadline'
      ? "stopped at the run's deadline (timeout-minutes)"
      : 'cancelled'
  }
  if (run.timedOut)
    return `timed out after ${formatMinutes(options.taskTimeoutMs)}; its process tree was ended`
  if (run.noSpace?.ended) return run.noSpace.message
  if (run.noSpace && run.exitCode !== 0)
    return `${what} ${run.exitCode === null ? `was killed by ${run.signal ?? 'a signal'}` : `exited with status ${run.exitCode}`}: ${run.noSpace.message}`
  if (run.exitCode === null) return `${what} was killed by ${run.signal ?? 'a signal'}`
  if (run.exitCode !== 0) return `${what} exited with status ${run.exitCode}`
  return undefined
}

function formatMinutes(ms: number): string {
  const minutes = ms / 60000
  return minutes >= 1 ? `${Number(minutes.toFixed(2))} min` : `${Math.round(ms / 1000)} s`
}
