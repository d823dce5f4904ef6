import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { taskHash } from '../action/state.js'
import type { Git } from '../core/git/git.js'
import type { IntegrationRecord, TaskBranchState } from '../core/people.js'
import { MAX_RECORDED_PEOPLE } from '../core/people.js'
import type { FanoutResult, Task, TaskStatus } from '../core/types.js'

// What the CLI last left its branches at, so that a later run can tell the commits it made
// from commits people made on those branches (core/people.ts). The action keeps the same
// record in its status comment; the CLI keeps it inside the repository's git directory, where
// no checkout shows it.

interface TaskEntry {
  hash: string
  status: TaskStatus
  commit?: string
  changedFiles: string[]
  durationMs: number
}

export interface LocalRecord {
  version: 1
  integration?: IntegrationRecord
  tasks: Record<string, TaskEntry>
}

async function recordFile(git: Git, prefix: string): Promise<string> {
  const common = path.resolve(git.repoDir, await git.out(['rev-parse', '--git-common-dir']))
  return path.join(common, 'agent-fanout', `${encodeURIComponent(prefix)}.json`)
}

export async function readLocalRecord(git: Git, prefix: string): Promise<LocalRecord | undefined> {
  const text = await readFile(await recordFile(git, prefix), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const record = JSON.parse(text) as LocalRecord
    return record.version === 1 && typeof record.tasks === 'object' ? record : undefined
  } catch {
    return undefined
  }
}

export async function writeLocalRecord(
  git: Git,
  prefix: string,
  result: FanoutResult,
  tasks: Task[],
  integration: IntegrationRecord | undefined
): Promise<void> {
  const byId = new Map(tasks.map((t) => [t.id, t]))
  const record: LocalRecord = {
    version: 1,
    ...(integration
      ? {
          integration: {
            sha: integration.sha,
            people: integration.people.slice(0, MAX_RECORDED_PEOPLE)
          }
        }
      : {}),
    tasks: {}
  }
  for (const r of result.tasks) {
    const task = byId.get(r.id)
    if (!task || task.checked) continue
    record.tasks[r.id] = {
      hash: taskHash(task),
      status: r.status,
      ...(r.commit ? { commit: r.commit } : {}),
      changedFiles: r.changedFiles.slice(0, 300),
      durationMs: r.durationMs
    }
  }
  const file = await recordFile(git, prefix)
  await mkdir(path.dirname(file), { recursive: true })
  // Written whole or not at all: a half-written record would make the next run guess.
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`)
  await rename(`${file}.tmp`, file)
}

/** The open tasks as people.ts needs them, from the local branches and the record. */
export function localTaskStates(
  tasks: Task[],
  record: LocalRecord | undefined,
  branchOf: (task: Task) => string,
  tips: Map<string, string>
): TaskBranchState[] {
  return tasks
    .filter((t) => !t.checked)
    .map((task) => {
      const entry = record?.tasks[task.id]
      const branch = branchOf(task)
      return {
        id: task.id,
        title: task.title,
        branch,
        tip: tips.get(branch),
        recordedTip: entry?.commit,
        recordedStatus: entry?.status,
        recordedChangedFiles: entry?.changedFiles,
        recordedDurationMs: entry?.durationMs,
        sameText: !entry || entry.hash === taskHash(task)
      }
    })
}
