import { integrationBranchName, taskBranchName } from '../core/branches.js'
import type { TaskPlan } from '../core/engine.js'
import type { Git } from '../core/git/git.js'
import { ensureMergeBases, fetchBranches } from '../core/git/remote.js'
import { keepPeoplesWork, type KeepDecision, type TaskBranchState } from '../core/people.js'
import type { Logger, Task } from '../core/types.js'
import { taskHash, type Command, type RunState } from './state.js'

// The action's side of people.ts: what the remote's branches and the recorded state say, the
// fetches the decision needs (only when a branch is not as the action left it), and the log.

export interface KeepOnRemote {
  git: Git
  logger: Logger
  auth: Record<string, string>
  issueNumber: number
  prefix: string
  tasks: Task[]
  plan: Map<string, TaskPlan>
  previous: RunState | undefined
  /** Branches under the prefix on the remote, as this run saw them (its leases). */
  remoteTips: Map<string, string>
  base: { branch: string; sha: string }
  command: Command
}

/** Decides how the run keeps commits by people; throws CannotKeepError when it cannot. */
export async function keepOnRemote(o: KeepOnRemote): Promise<KeepDecision> {
  const integrationBranch = integrationBranchName(o.prefix)
  const integrationTip = o.remoteTips.get(integrationBranch)
  const record = o.previous?.integration
  const states = taskBranchStates(o.tasks, o.prefix, o.previous, o.remoteTips, o.plan, o.command)

  // The usual case needs nothing more: every branch is where the action left it.
  const asLeft =
    integrationTip === undefined ||
    (record !== undefined && record.sha === integrationTip && record.people.length === 0)
  const fetch = [
    ...(asLeft ? [] : [integrationBranch]),
    ...states.filter((s) => s.tip && (!asLeft || s.tip !== s.recordedTip)).map((s) => s.branch)
  ]
  if (fetch.length > 0) {
    await o.logger.group(`Look for commits by people on ${fetch.join(', ')}`, async () => {
      await fetchBranches(o.git, 'origin', fetch, o.auth)
      await ensureMergeBases(
        o.git,
        'origin',
        o.base,
        fetch.map((branch) => ({ branch, sha: o.remoteTips.get(branch)! })),
        o.auth
      )
    })
  }
  const decision = await keepPeoplesWork(o.git, {
    issueNumber: o.issueNumber,
    baseBranch: o.base.branch,
    baseSha: o.base.sha,
    integrationBranch,
    integrationTip,
    record,
    tasks: states,
    plan: o.plan,
    remote: 'origin'
  })
  for (const note of decision.notes) o.logger.info(note)
  return decision
}

/**
 * What people may have done to each open task's branch, as the plan and the last record see it:
 * the input of keepPeoplesWork (core/people.ts), shared by the action and the CLI.
 */
export function taskBranchStates(
  tasks: Task[],
  prefix: string,
  previous: RunState | undefined,
  tips: Map<string, string>,
  plan: Map<string, TaskPlan>,
  command: Command
): TaskBranchState[] {
  const named = new Set('ids' in command ? command.ids.map((id) => id.toLowerCase()) : [])
  return tasks
    .filter((t) => !t.checked)
    .map((task) => {
      const recorded = previous?.tasks[task.id]
      const branch = taskBranchName(prefix, task.id)
      const planned = plan.get(task.id)
      return {
        id: task.id,
        title: task.title,
        branch,
        tip: tips.get(branch),
        recordedTip:
          planned?.mode === 'reuse' || planned?.mode === 'merge' ? planned.tip : recorded?.commit,
        recordedStatus: recorded?.status,
        recordedChangedFiles: recorded?.changedFiles,
        recordedDurationMs: recorded?.durationMs,
        sameText: !recorded || recorded.hash === taskHash(task),
        ...(named.has(task.id.toLowerCase()) && command.kind !== 'run'
          ? { named: command.kind }
          : {})
      }
    })
}
