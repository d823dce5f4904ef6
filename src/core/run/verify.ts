import path from 'node:path'
import { scrubEnv } from '../agents/env.js'
import { runAgent } from '../agents/run-agent.js'
import { worktreeEnv, type Worktree } from '../git/worktrees.js'
import type { VerifyResult } from '../types.js'
import { asNoSpace, isNoSpace } from '../util/no-space.js'
import { failure } from './agent.js'
import type { Workspace } from './prepare.js'

/** Runs the verify command on a commit: the task's merge ('each') or the whole branch ('final'). */
export type Verifier = ReturnType<typeof createVerifier>

/** Runs the verify command in one detached worktree that is moved from commit to commit. */
export function createVerifier(ws: Workspace): {
  run(commit: string, slot: string): Promise<Omit<VerifyResult, 'mode'>>
} {
  const { git, logger, options } = ws
  let wt: Worktree | undefined
  return {
    async run(commit, slot) {
      const command = options.verify!.command
      try {
        if (!wt) wt = await ws.worktrees.create('integration', undefined, commit)
        else {
          // Addressed explicitly: the verify command may have deleted the worktree's .git file.
          const at = { cwd: wt.path, env: worktreeEnv(wt) }
          await git.run(['checkout', '--quiet', '--force', '--detach', commit], at)
          await git.run(['clean', '-fdq'], at)
        }
      } catch (error) {
        // Not verified is not passed: with no room for the checkout, the check fails.
        if (!isNoSpace(error)) throw error
        const tail = asNoSpace(error, `while checking out ${commit.slice(0, 12)} to verify it`)
        logger.warning(`[${slot}] ${tail.message}`)
        return { command, ok: false, tail: tail.message, exitCode: null, durationMs: 0 }
      }
      const env = {
        ...scrubEnv(options.agentBaseEnv, {
          secrets: options.secrets,
          identity: options.identity,
          marker: ws.marker(slot)
        }),
        TASK_MODE: 'verify',
        VERIFY_COMMIT: commit
      }
      const run = await runAgent({
        command,
        cwd: wt.path,
        env,
        logFile: path.join(ws.dirs.logs, `${slot}.log`),
        timeoutMs: options.taskTimeoutMs,
        killGraceMs: options.killGraceMs ?? 5000,
        marker: ws.marker(slot),
        onLine: (line) => logger.info(`[${slot}] ${line}`),
        signal: options.signal
      })
      logger.info(
        `[${slot}] ${run.exitCode === 0 ? 'passed' : `failed (${failure(options, run, 'verify command')})`}`
      )
      return {
        command,
        ok: run.exitCode === 0 && !run.timedOut,
        tail: run.logTail,
        exitCode: run.exitCode,
        durationMs: run.durationMs
      }
    }
  }
}
