import type { TaskPlan } from './run/options.js'
import { failedResult } from './run/task-result.js'
import type { Git } from './git/git.js'
import { commitMerge, mergeTree } from './git/merge.js'
import { isMerged, type TaskResult, type TaskStatus } from './types.js'

// Commits by people on the branches agent-fanout writes. The conflict report tells people to
// resolve a conflict by hand on the integration branch and push it; people also push fixes onto
// task branches. A later run builds on those commits and never force-pushes over them.
//
// Which commits the action made is decided by what it recorded, not by what commits say about
// themselves (anyone can copy a trailer):
// - Integration branch: the state records the commit the action last left the branch at, and
//   the commits by people that branch held then. A commit on the branch's first-parent chain
//   (above the base) that the recorded commit does not contain, or that was recorded as a
//   person's, is a person's. Only without any record (state lost, or written by a version
//   before this one) does the chain's trailer decide: a commit without
//   `Agent-Fanout-Issue: <n>` is a person's.
// - Task branch: its tip is the action's when it is the commit recorded for the task (or an
//   older commit of it: the branch was moved back). Anything else holds commits by people.
//   Without a recorded commit, a tip carrying the task's `Agent-Fanout-Task` trailer counts as
//   the action's (a matrix task job whose result was never recorded).
//
// While the integration branch holds commits by people, a run does not rebuild it from the
// base: it starts from the branch (with the base merged in when the base moved on), reports
// tasks it already contains as merged (`merged-by-hand` when a person merged them) and merges
// the others on top. A task branch holding commits by people is the task's result: it is
// merged as it is, never run again over it.

/** What the action recorded about the integration branch it last left on the remote. */
export interface IntegrationRecord {
  /** The commit the branch was left at. */
  sha: string
  /** Commits by people the branch held then, newest first (capped). */
  people: string[]
}

/** How many commits by people the record keeps: enough to tell that some are still there. */
export const MAX_RECORDED_PEOPLE = 50

const ISSUE_TRAILER = 'Agent-Fanout-Issue'
const TASK_TRAILER = 'Agent-Fanout-Task'

/** One task as the decision needs it: where its branch is and what was recorded for it. */
export interface TaskBranchState {
  id: string
  title: string
  branch: string
  /** The branch's tip now (on the remote for the action, local for the CLI). */
  tip?: string
  /** The commit the action last left the branch at (the state's, or the plan's tip). */
  recordedTip?: string
  recordedStatus?: TaskStatus
  recordedChangedFiles?: string[]
  recordedDurationMs?: number
  /** False when the task's text changed since that record. */
  sameText: boolean
  /** Named by `/fanout retry` or `/fanout drop` in this request. */
  named?: 'retry' | 'drop'
}

export interface KeepInput {
  issueNumber: number
  baseBranch: string
  baseSha: string
  integrationBranch: string
  /** The integration branch's tip now; undefined when it does not exist. */
  integrationTip?: string
  record?: IntegrationRecord
  /** Open tasks (checked ones are left out). */
  tasks: TaskBranchState[]
  plan: Map<string, TaskPlan>
  /** The remote people push to ('origin'), or undefined for local branches (the CLI). */
  remote?: string
}

export interface KeepDecision {
  /** Where the integration branch starts: the base, or the branch as people left it. */
  start: string
  /** Commits by people the integration branch holds, newest first (empty: rebuilt from base). */
  people: string[]
  plan: Map<string, TaskPlan>
  /** Sentences for the report: what was kept, and why an agent was not started. */
  notes: string[]
}

/** Keeping people's commits is not possible: the run must stop before any agent starts. */
export class CannotKeepError extends Error {}

/**
 * Decides where the integration branch starts and adjusts the plan so that no commit by people
 * is lost; throws CannotKeepError when that cannot be done. The caller has the objects: the
 * integration branch and task branches with history down to the base (the CLI has them all).
 */
export async function keepPeoplesWork(git: Git, input: KeepInput): Promise<KeepDecision> {
  const plan = new Map(input.plan)
  const notes: string[] = []
  const impossible: string[] = []
  const people = await peopleOnIntegration(git, input)
  let start = input.baseSha
  if (people.length > 0) {
    const from = await startFrom(git, input, people)
    if ('error' in from) impossible.push(from.error)
    else {
      start = from.start
      notes.push(
        `\`${input.integrationBranch}\` holds ${count(people.length, 'commit')} by people (${shortList(people)}): this run kept ${people.length === 1 ? 'it' : 'them'}, building on that branch instead of rebuilding it from \`${input.baseBranch}\`${from.mergedBase ? `, into which it merged \`${input.baseBranch}\` first` : ''}.`
      )
    }
  }

  for (const task of input.tasks) {
    const current = plan.get(task.id)
    if (!current) continue
    // A task the integration branch already holds (through a person's merge, or the action's
    // own from an earlier run) is merged: taking it out again would drop the people's commits.
    const contained =
      people.length > 0 && input.integrationTip
        ? await containedTip(git, task, input.integrationTip)
        : undefined
    if (contained) {
      const redo =
        task.named === 'retry'
          ? '/fanout retry asks to run it again'
          : task.named === 'drop'
            ? '/fanout drop asks to take it out'
            : current.mode === 'run' && task.recordedTip && !task.sameText
              ? 'its text changed, so it would run again'
              : undefined
      if (redo) {
        impossible.push(
          `${task.id}: ${redo}, but its earlier result is in \`${input.integrationBranch}\` with commits by people on top, and cannot be taken out without them. ${task.named ? 'Leave it as it is' : 'Put its text back'}; or, to redo it anyway, save what you need, delete the branch and run again.`
        )
        continue
      }
      const result = await containedResult(git, input, task, contained)
      plan.set(task.id, { mode: 'keep', result })
      if (result.status === 'merged-by-hand') notes.push(`${task.id}: ${result.reason}.`)
      continue
    }
    if (current.mode === 'drop' || current.mode === 'keep') continue
    const byPeople = await peopleOnTaskBranch(git, task, input)
    if (byPeople.length === 0) continue
    if (task.named === 'retry') {
      impossible.push(
        `${task.id}: /fanout retry asks to run it again from scratch, but its branch \`${task.branch}\` holds ${count(byPeople.length, 'commit')} by people (${shortList(byPeople)}) that a new run would replace. Comment /fanout run to merge that branch as it is, or delete the branch (save what you need first) and retry.`
      )
      continue
    }
    if (!(await git.test(['merge-base', input.baseSha, task.tip!]))) {
      // Nothing to merge it with: it stays where it is, untouched, and the report says why.
      plan.set(task.id, {
        mode: 'keep',
        result: failedResult(
          task,
          task.branch,
          `its branch ${task.branch} holds commits by people that share no history with ${input.baseBranch}; it was left as it is and not merged`
        )
      })
      continue
    }
    const note = `its branch holds ${count(byPeople.length, 'commit')} by people (${shortList(byPeople)}); that branch is its result, so its agent was not started again`
    plan.set(task.id, {
      mode: 'reuse',
      tip: task.tip!,
      changedFiles: await changedFiles(git, input.baseSha, task.tip!),
      durationMs: task.recordedDurationMs ?? 0,
      byPeople: note
    })
    notes.push(`${task.id}: ${note}.`)
  }

  if (impossible.length > 0) {
    throw new CannotKeepError(
      [
        `Nothing was started: \`${input.integrationBranch}\` or a task branch holds commits by people, and this run cannot keep them. Nothing was changed either.`,
        ...impossible.map((reason) => `- ${reason}`)
      ].join('\n')
    )
  }
  return { start, people, plan, notes }
}

/**
 * Commits by people on the integration branch, newest first: on its first-parent chain above
 * the base, made after what the action recorded leaving there, or recorded as people's before.
 */
export async function peopleOnIntegration(
  git: Git,
  input: Pick<KeepInput, 'integrationTip' | 'record' | 'baseSha' | 'issueNumber'>
): Promise<string[]> {
  const { integrationTip: tip, record, baseSha } = input
  if (!tip) return []
  if (record && record.sha === tip && record.people.length === 0) return []
  const chain = await lines(git, ['rev-list', '--first-parent', tip, '--not', baseSha])
  if (chain.length === 0) return []
  let fresh: string[]
  if (record && (await exists(git, record.sha)))
    fresh = await lines(git, ['rev-list', '--first-parent', tip, '--not', baseSha, record.sha])
  // What it recorded is not in the branch's history any more: the history was rewritten.
  else if (record) fresh = chain
  else fresh = await withoutTrailer(git, tip, baseSha, ISSUE_TRAILER, String(input.issueNumber))
  const earlier = record?.people.length
    ? new Set(await lines(git, ['rev-list', tip, '--not', baseSha]))
    : new Set<string>()
  const kept = [...fresh, ...(record?.people ?? []).filter((c) => earlier.has(c))]
  return [...new Set(kept)]
}

/** The commits by people on a task's branch (empty when its tip is the action's). */
export async function peopleOnTaskBranch(
  git: Git,
  task: TaskBranchState,
  input: Pick<KeepInput, 'baseSha' | 'issueNumber'>
): Promise<string[]> {
  const { tip, recordedTip } = task
  if (!tip || tip === recordedTip) return []
  if (recordedTip && (await exists(git, recordedTip))) {
    if (await git.test(['merge-base', '--is-ancestor', tip, recordedTip])) return []
    return lines(git, ['rev-list', tip, '--not', input.baseSha, recordedTip])
  }
  if (!recordedTip) {
    const trailers = await git.out([
      'log',
      '-1',
      `--format=%(trailers:key=${TASK_TRAILER},valueonly,separator=%x2C)%x00%(trailers:key=${ISSUE_TRAILER},valueonly,separator=%x2C)`,
      tip
    ])
    const [taskIds, issues] = trailers.split('\0').map((v) => v.split(',').map((x) => x.trim()))
    if (taskIds.includes(task.id) && issues?.includes(String(input.issueNumber))) return []
  }
  return lines(git, ['rev-list', tip, '--not', input.baseSha])
}

/**
 * Where a run that keeps the people's commits starts: the integration branch itself, or, when
 * the base moved on, a merge of the base into it. An error when neither is possible.
 */
async function startFrom(
  git: Git,
  input: KeepInput,
  people: string[]
): Promise<{ start: string; mergedBase: boolean } | { error: string }> {
  const tip = input.integrationTip!
  const held = `it holds ${count(people.length, 'commit')} by people (${shortList(people)})`
  if (await git.test(['merge-base', '--is-ancestor', input.baseSha, tip]))
    return { start: tip, mergedBase: false }
  if (!(await git.test(['merge-base', input.baseSha, tip]))) {
    return {
      error: `\`${input.integrationBranch}\` shares no history with \`${input.baseBranch}\`; ${held}, and a run must start from \`${input.baseBranch}\`. To start over, save what you need and delete the branch.`
    }
  }
  const merged = await mergeTree(git, tip, input.baseSha)
  if (!merged.clean) {
    const files = merged.files.slice(0, 10).map(plainPath).join(', ')
    const fetch = input.remote ? `git fetch ${input.remote} && ` : ''
    const base = input.remote ? `${input.remote}/${input.baseBranch}` : input.baseBranch
    return {
      error: `\`${input.baseBranch}\` moved on and does not merge cleanly into \`${input.integrationBranch}\` (${files ? `conflicts in ${files}` : 'conflicts'}${merged.files.length > 10 ? ', …' : ''}); ${held}. Merge it yourself: \`${fetch}git switch ${input.integrationBranch} && git merge ${base}\`, fix the conflicts, commit${input.remote ? ' and push' : ''}, then run again.`
    }
  }
  const message = `Merge ${input.baseBranch} into ${input.integrationBranch}\n\n${ISSUE_TRAILER}: ${input.issueNumber}\n`
  return {
    start: await commitMerge(git, merged.tree, tip, input.baseSha, message),
    mergedBase: true
  }
}

/** The task's commit the integration branch contains: its branch's tip, or (branch deleted) the recorded one. */
async function containedTip(
  git: Git,
  task: TaskBranchState,
  integrationTip: string
): Promise<string | undefined> {
  const candidate = task.tip ?? task.recordedTip
  if (!candidate || !(await exists(git, candidate))) return undefined
  return (await git.test(['merge-base', '--is-ancestor', candidate, integrationTip]))
    ? candidate
    : undefined
}

/** The result of a task the integration branch already holds. */
async function containedResult(
  git: Git,
  input: KeepInput,
  task: TaskBranchState,
  commit: string
): Promise<TaskResult> {
  const byAction =
    task.recordedStatus !== undefined &&
    isMerged(task.recordedStatus) &&
    task.recordedTip === commit &&
    task.sameText
  const base = {
    id: task.id,
    title: task.title,
    branch: task.branch,
    commit,
    durationMs: task.recordedDurationMs ?? 0,
    reused: true
  }
  if (byAction)
    return {
      ...base,
      status: task.recordedStatus!,
      changedFiles: task.recordedChangedFiles ?? (await changedFiles(git, input.baseSha, commit))
    }
  // The oldest commit on the branch's first-parent chain that contains the task's: the merge.
  const chain = await lines(git, [
    'rev-list',
    '--first-parent',
    '--ancestry-path',
    `${commit}..${input.integrationTip!}`
  ])
  const merge = chain.at(-1) ?? commit
  const author = plainName(await git.out(['log', '-1', '--format=%an', merge]))
  return {
    ...base,
    status: 'merged-by-hand',
    changedFiles: await changedFiles(git, input.baseSha, commit),
    reason: `merged into ${input.integrationBranch} by hand${author ? ` by ${author}` : ''} (in ${merge.slice(0, 12)}); its agent was not started again`
  }
}

/** Paths a tip changes since it left the base's history (`base...tip`). */
async function changedFiles(git: Git, baseSha: string, tip: string): Promise<string[]> {
  const out = await git.out(['diff', '--name-only', '-z', '--no-renames', `${baseSha}...${tip}`])
  return out.split('\0').filter(Boolean)
}

/** First-parent commits above the base whose message lacks `key: value` as a trailer. */
async function withoutTrailer(
  git: Git,
  tip: string,
  baseSha: string,
  key: string,
  value: string
): Promise<string[]> {
  const out = await git.out([
    'log',
    '--first-parent',
    `--format=%H %(trailers:key=${key},valueonly,separator=%x2C)`,
    tip,
    '--not',
    baseSha
  ])
  const without: string[] = []
  for (const line of out.split('\n').filter(Boolean)) {
    const space = line.indexOf(' ')
    const sha = space === -1 ? line : line.slice(0, space)
    const values = space === -1 ? '' : line.slice(space + 1)
    if (!values.split(',').some((v) => v.trim() === value)) without.push(sha)
  }
  return without
}

async function exists(git: Git, sha: string): Promise<boolean> {
  return git.test(['cat-file', '-e', `${sha}^{commit}`], { okExitCodes: [128] })
}

async function lines(git: Git, args: string[]): Promise<string[]> {
  return (await git.out(args)).split('\n').filter(Boolean)
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

function shortList(commits: string[]): string {
  const shown = commits.slice(0, 3).map((c) => c.slice(0, 12))
  return commits.length > 3 ? `${shown.join(', ')}, …` : shown.join(', ')
}

/** A person's name as plain text: letters, digits, spaces and . ' - only (nothing markdown reads). */
function plainName(name: string): string {
  return name
    .replace(/[^\p{L}\p{N} .'-]/gu, '?')
    .trim()
    .slice(0, 80)
}

/** A path as plain text for a message: anything but ordinary file name characters becomes '?'. */
function plainPath(file: string): string {
  return file.replace(/[^\w./+-]/g, '?')
}
