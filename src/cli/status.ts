import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { planTasks } from '../action/state.js'
import { defaultBranchPrefix, integrationBranchName, taskBranchName } from '../core/branches.js'
import { STATUS, terminalLine } from '../core/report/terminal.js'
import { parseTaskList } from '../core/tasks/parse.js'
import type { TaskStatus } from '../core/types.js'
import { errorMessage, UserError } from '../core/util/errors.js'
import type { Parsed } from './args.js'
import { readLocalState, stateRef } from './record.js'
import { localTips, openRepository } from './run.js'

// `agent-fanout status`: what the last run recorded, where its branches are now, and (with the
// issue file) what the next run would do with each task: the planning of a real run, without
// starting it.

interface TaskStatusLine {
  id: string
  title: string
  status: TaskStatus | 'dropped' | 'not run'
  branch: string
  /** Where the branch is now (undefined: it does not exist). */
  tip?: string
  /** The commit the last run left it at. */
  recordedTip?: string
  /** With --issue-file: what the next `run` does with it. */
  next?: 'run' | 'reuse' | 'keep' | 'drop'
}

export async function statusCommand(parsed: Parsed): Promise<number> {
  const { options, local } = parsed
  const git = await openRepository(path.resolve(local.repo ?? '.'), undefined, process.env)
  const prefix = options['branch-prefix'] ?? defaultBranchPrefix(options['issue-number'] ?? 1)
  const stored = await readLocalState(git, prefix)
  const tips = await localTips(git, prefix)
  const state = stored?.state
  const integration = integrationBranchName(prefix)
  const lines = new Map<string, TaskStatusLine>()
  for (const [id, r] of Object.entries(state?.tasks ?? {}))
    lines.set(id, {
      id,
      title: r.title,
      status: state?.dropped.includes(id) ? 'dropped' : r.status,
      branch: r.branch,
      tip: tips.get(r.branch),
      recordedTip: r.commit
    })
  if (local['issue-file']) {
    const markdown = await readFile(local['issue-file'], 'utf8').catch((error: unknown) => {
      throw new UserError(`cannot read --issue-file ${local['issue-file']}: ${errorMessage(error)}`)
    })
    const tasks = parseTaskList(markdown).tasks
    const { plan } = planTasks(tasks, state, tips, { kind: 'run' })
    for (const task of tasks.filter((t) => !t.checked)) {
      const branch = taskBranchName(prefix, task.id)
      const line = lines.get(task.id) ?? {
        id: task.id,
        title: task.title,
        status: 'not run' as const,
        branch,
        tip: tips.get(branch)
      }
      const mode = plan.get(task.id)?.mode
      lines.set(task.id, {
        ...line,
        title: task.title,
        next: mode === 'merge' ? 'reuse' : mode
      })
    }
  }
  const summary = {
    branchPrefix: prefix,
    stateRef: stateRef(prefix),
    recordedAt: stored?.writtenAt,
    baseSha: state?.baseSha || undefined,
    integration: {
      branch: integration,
      tip: tips.get(integration),
      recordedTip: state?.integration?.sha
    },
    tasks: [...lines.values()]
  }
  if (local.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
    return 0
  }
  process.stdout.write(renderStatus(summary, stored !== undefined))
  return 0
}

function renderStatus(
  s: {
    branchPrefix: string
    stateRef: string
    recordedAt?: string
    baseSha?: string
    integration: { branch: string; tip?: string; recordedTip?: string }
    tasks: TaskStatusLine[]
  },
  recorded: boolean
): string {
  const out: string[] = []
  if (!recorded && s.tasks.length === 0 && !s.integration.tip)
    return `${s.branchPrefix}: no run recorded and no branches (nothing to show).\n`
  out.push(
    recorded
      ? `${s.branchPrefix}: last run recorded ${s.recordedAt ?? ''} in ${s.stateRef}`
      : `${s.branchPrefix}: no run recorded`
  )
  if (s.baseSha) out.push(`Base: ${s.baseSha.slice(0, 12)}`)
  out.push(
    `Integration branch ${s.integration.branch}: ${where(s.integration.tip, s.integration.recordedTip)}`
  )
  const id = Math.max(4, ...s.tasks.map((t) => terminalLine(t.id, 40).length))
  const label = (t: TaskStatusLine): string =>
    t.status === 'dropped' ? '- dropped' : t.status === 'not run' ? '- not run' : STATUS[t.status]
  const width = Math.max(0, ...s.tasks.map((t) => label(t).length))
  out.push('')
  for (const t of s.tasks)
    out.push(
      `  ${terminalLine(t.id, 40).padEnd(id)}  ${label(t).padEnd(width)}  ${where(t.tip, t.recordedTip).padEnd(28)}  ${terminalLine(t.title, 80)}`
    )
  const next = s.tasks.filter((t) => t.next)
  if (next.length) {
    const ids = (mode: string): string[] =>
      next.filter((t) => t.next === mode).map((t) => terminalLine(t.id, 40))
    const parts = [
      ['runs', ids('run')],
      ['reuses', ids('reuse')],
      ['keeps', ids('keep')],
      ['leaves out', ids('drop')]
    ].filter(([, list]) => list.length > 0)
    out.push(
      '',
      `The next run ${parts.map(([verb, list]) => `${verb} ${(list as string[]).join(', ')}`).join('; ')}.`
    )
  }
  return `${out.join('\n')}\n`
}

/** Where a branch is, against where the last run left it. */
function where(tip: string | undefined, recorded: string | undefined): string {
  if (!tip) return 'no branch'
  if (!recorded || tip === recorded) return `at ${tip.slice(0, 10)}${recorded ? ' as left' : ''}`
  return `at ${tip.slice(0, 10)}, moved since`
}
