import { renderPrompt, renderResolvePrompt, renderRerunNote } from '../agents/prompt.js'
import { taskCollectOptions } from '../git/collect.js'
import { worktreeEnv } from '../git/worktrees.js'
import type { IntegrationHooks } from '../integrate.js'
import type { Task } from '../types.js'
import { errorMessage } from '../util/errors.js'
import { isNoSpace } from '../util/no-space.js'
import { failure } from './agent.js'
import type { AgentStage } from './agents.js'
import { blockedWorkflowFiles, collectAndJudge } from './judge.js'
import { acceptResolution } from './resolve.js'

type Rerun = NonNullable<IntegrationHooks['rerun']>
type Resolve = NonNullable<IntegrationHooks['resolve']>

/**
 * The `rerun` conflict strategy: the task's agent again, on the integration branch as merged
 * so far, told what conflicted; its new work replaces the task branch.
 */
export function rerunHook(stage: AgentStage, byId: Map<string, Task>): Rerun {
  const { ws } = stage
  const { git, logger, options } = ws
  return async (it, onto, attempt, conflict) => {
    const task = byId.get(it.id)!
    const slot = `${it.id}-rerun${attempt}`
    return stage.slots
      .with(slot, undefined, onto, async (wt) => {
        logger.info(
          `[${slot}] re-running ${it.id} on the integration branch (${onto.slice(0, 12)})`
        )
        const prompt =
          renderPrompt({
            issue: options.issue,
            task,
            siblings: options.tasks,
            branch: ws.branchOf(task),
            baseBranch: options.baseBranch
          }) + renderRerunNote(conflict)
        const { run } = await stage.start({
          task,
          wt,
          slot,
          command: options.agentCommand,
          prompt,
          extraEnv: { TASK_MODE: 'rerun' },
          startSha: onto
        })
        await ws.checkSharedGit(slot)
        const failed = failure(options, run)
        if (failed) return { error: failed }
        const work = await collectAndJudge(
          git,
          wt,
          taskCollectOptions(ws.runContext, task, undefined, onto)
        )
        if ('error' in work) return work
        if (work.changedFiles.length === 0) return { error: 'the re-run changed no file' }
        const workflows = blockedWorkflowFiles(ws, work.changedFiles)
        if (workflows) return { error: workflows }
        await git.run(['update-ref', `refs/heads/${ws.branchOf(task)}`, work.tip])
        const changed = await git.out([
          'diff',
          '--name-only',
          '-z',
          '--no-renames',
          options.baseSha,
          work.tip
        ])
        return { tip: work.tip, changedFiles: changed.split('\0').filter(Boolean) }
      })
      .catch(gaveUpForNoSpace)
  }
}

/**
 * The `agent` conflict strategy: the merge left conflicted in a worktree, the resolve command
 * told what conflicts with what; its result is taken only when it is a whole merge.
 */
export function resolveHook(stage: AgentStage, byId: Map<string, Task>): Resolve {
  const { ws } = stage
  const { git, options } = ws
  return async (it, onto, conflict, mergedSoFar) => {
    const task = byId.get(it.id)!
    const slot = `${it.id}-resolve`
    return stage.slots
      .with(slot, undefined, onto, async (wt) => {
        const message = `Merge task ${it.id}: ${it.title} (conflicts resolved by the resolve command)\n\nAgent-Fanout-Task: ${it.id}\nAgent-Fanout-Issue: ${options.issue.number}\n`
        await git.run(['merge', '--no-ff', '--no-edit', '-m', message, it.tip], {
          cwd: wt.path,
          env: worktreeEnv(wt),
          okExitCodes: [1]
        })
        const others = mergedSoFar.filter((m) =>
          m.changedFiles.some((f) => conflict.files.includes(f))
        )
        const prompt = renderResolvePrompt({
          issue: options.issue,
          task,
          conflict,
          others: others.map((o) => byId.get(o.id)!).filter(Boolean),
          integrationBranch: ws.integrationBranch
        })
        const { run } = await stage.start({
          task,
          wt,
          slot,
          command: options.resolveCommand ?? options.agentCommand,
          prompt,
          extraEnv: { TASK_MODE: 'resolve', CONFLICT_FILES: conflict.files.join('\n') },
          startSha: onto
        })
        await ws.checkSharedGit(slot)
        const failed = failure(options, run, 'resolve command')
        if (failed) return { error: failed }
        return acceptResolution(git, wt, onto, it.tip, conflict)
      })
      .catch(gaveUpForNoSpace)
  }
}

/** A conflict strategy that ran out of disk gives up on its task; the integration goes on. */
function gaveUpForNoSpace(error: unknown): { error: string } {
  if (!isNoSpace(error)) throw error
  return { error: errorMessage(error) }
}
