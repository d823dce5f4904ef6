import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { taskHash, type RunState, type TaskRecord } from '../action/state.js'
import { taskBranchName } from '../core/branches.js'
import type { Git } from '../core/git/git.js'
import type { IntegrationRecord } from '../core/people.js'
import type { TaskStatus } from '../core/types.js'

// What the CLI's last run of an issue left behind, for the next one: the same record the action
// keeps in its status comment (action/state.ts: each task's result, the commit its branch was
// left at, the dropped tasks, the integration branch and the commits by people it held), so a
// later run reuses finished work and keeps people's commits exactly as the action's reruns do.
//
// It lives in the repository, as a ref: refs/agent-fanout/<prefix, "/" written %2F> points at
// a commit whose tree holds state.json. A ref survives what a temp dir does not (reboots, other
// users' tmp cleaners), travels with `git push origin 'refs/agent-fanout/*'` if wanted, is
// updated atomically (compare-and-swap: two runs of one issue cannot both write theirs over
// each other unnoticed), and no checkout shows it.

export const STATE_REFS = 'refs/agent-fanout/'

/** The ref that holds the state of the runs writing branches under `prefix`. */
export function stateRef(prefix: string): string {
  // One component: prefixes `a` and `a/b` must not collide as ref and directory.
  return `${STATE_REFS}${prefix.replace(/%/g, '%25').replace(/\//g, '%2F')}`
}

/** What only the CLI needs besides the action's state: where its worktrees were. */
export interface LocalExtras {
  workDir?: string
}

export interface StoredState {
  state: RunState
  local: LocalExtras
  /** The state ref's commit, for the compare-and-swap of the next write ('' for none). */
  ref: string
  /** When it was written (ISO), from its commit. */
  writtenAt?: string
}

/** The state recorded for `prefix`, or undefined; a record of an older CLI is read too. */
export async function readLocalState(git: Git, prefix: string): Promise<StoredState | undefined> {
  const ref = stateRef(prefix)
  const commit = await git.out(['rev-parse', '-q', '--verify', `${ref}^{commit}`], {
    okExitCodes: [1]
  })
  if (commit) {
    const text = await git.out(['cat-file', 'blob', `${commit}:state.json`]).catch(() => '')
    const state = parseState(text)
    const local = await git
      .out(['cat-file', 'blob', `${commit}:local.json`])
      .then((t) => JSON.parse(t) as LocalExtras)
      .catch(() => ({}))
    const writtenAt = await git.out(['show', '-s', '--format=%cI', commit]).catch(() => undefined)
    return state ? { state, local, ref: commit, writtenAt } : undefined
  }
  const legacy = await readLegacyRecord(git, prefix)
  return legacy ? { state: legacy, local: {}, ref: '' } : undefined
}

function parseState(text: string): RunState | undefined {
  try {
    const state = JSON.parse(text) as RunState
    return state.version === 1 && typeof state.tasks === 'object'
      ? { ...state, dropped: state.dropped ?? [] }
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Writes the state as the ref's new commit, only if the ref is still at `expected` (the commit
 * read at the start; '' for "did not exist"). Returns false when another run moved it meanwhile:
 * that run's record then stands, and this one is not written over it.
 */
export async function writeLocalState(
  git: Git,
  prefix: string,
  state: RunState,
  local: LocalExtras,
  expected: string
): Promise<boolean> {
  const blob = (value: unknown): Promise<string> =>
    git.out(['hash-object', '-w', '--stdin'], { stdin: `${JSON.stringify(value, null, 2)}\n` })
  const entries = [`100644 blob ${await blob(local)}\tlocal.json`]
  entries.push(`100644 blob ${await blob(state)}\tstate.json`)
  const tree = await git.out(['mktree'], { stdin: `${entries.join('\n')}\n` })
  const commit = await git.out(['commit-tree', tree, '-m', `agent-fanout state of ${prefix}/`])
  const moved = await git.run(
    ['update-ref', '-m', 'agent-fanout: record the run', stateRef(prefix), commit, expected || ''],
    { okExitCodes: [1, 128] }
  )
  if (moved.exitCode !== 0) return false
  await rm(await legacyFile(git, prefix), { force: true })
  return true
}

/** Deletes the state of `prefix` (clean); returns the commit it pointed at, if any. */
export async function deleteLocalState(git: Git, prefix: string): Promise<string | undefined> {
  const ref = stateRef(prefix)
  const commit = await git.out(['rev-parse', '-q', '--verify', ref], { okExitCodes: [1] })
  if (commit) await git.out(['update-ref', '-d', ref, commit])
  const legacy = await legacyFile(git, prefix)
  const hadLegacy = await readFile(legacy).then(
    () => true,
    () => false
  )
  await rm(legacy, { force: true })
  return commit || (hadLegacy ? 'legacy' : undefined)
}

// Before the state moved into a ref, the CLI kept a smaller record in
// .git/agent-fanout/<prefix>.json: read once, so that the first run of this version still
// keeps people's commits and reuses finished work; the next write removes it.
interface LegacyRecord {
  version: 1
  integration?: IntegrationRecord
  tasks: Record<
    string,
    {
      hash: string
      status: TaskStatus
      commit?: string
      changedFiles: string[]
      durationMs: number
    }
  >
}

async function legacyFile(git: Git, prefix: string): Promise<string> {
  const common = path.resolve(git.repoDir, await git.out(['rev-parse', '--git-common-dir']))
  return path.join(common, 'agent-fanout', `${encodeURIComponent(prefix)}.json`)
}

async function readLegacyRecord(git: Git, prefix: string): Promise<RunState | undefined> {
  const text = await readFile(await legacyFile(git, prefix), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const old = JSON.parse(text) as LegacyRecord
    if (old.version !== 1 || typeof old.tasks !== 'object') return undefined
    const tasks: Record<string, TaskRecord> = {}
    for (const [id, t] of Object.entries(old.tasks))
      tasks[id] = { ...t, title: '', branch: taskBranchName(prefix, id) }
    return { version: 1, baseSha: '', tasks, dropped: [], integration: old.integration }
  } catch {
    return undefined
  }
}

export { taskHash }
