import { randomBytes } from 'node:crypto'
import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { buildAgentEnv, scrubEnv, withheldFromAgents } from './agents/env.js'
import { FifoPool } from './agents/fifos.js'
import { isolate, type AgentPreset } from './agents/presets/index.js'
import { renderPrompt, renderResolvePrompt, renderRerunNote } from './agents/prompt.js'
import { runAgent, type AgentRunResult } from './agents/run-agent.js'
import { subreaperAvailable } from './agents/subreaper.js'
import { integrationBranchName, taskBranchName, validateBranchPrefix } from './branches.js'
import { refuseCheckedOut } from './git/checked-out.js'
import {
  collectWork,
  readHead,
  taskCollectOptions,
  type CollectOptions,
  type RunContext
} from './git/collect.js'
import { fitOnDisk } from './disk.js'
import { assertGitVersion, type Git, type Identity } from './git/git.js'
import { SharedGitGuard } from './git/guard.js'
import { ObjectStoreGuard } from './git/precious.js'
import { refuseLocalBranchClashes } from './preflight.js'
import { surveyTips, type TipSurvey } from './git/tips.js'
import { WorktreeManager, worktreeEnv, type Worktree } from './git/worktrees.js'
import {
  integrate,
  type ConflictStrategy,
  type IntegrationHooks,
  type IntegrationTask
} from './integrate.js'
import type { ConflictInfo, FanoutResult, Logger, Task, TaskResult, VerifyResult } from './types.js'
import { errorMessage } from './util/errors.js'
import { asNoSpace, isNoSpace, noSpaceAt } from './util/no-space.js'
import { mapWithConcurrency } from './util/pool.js'

/** What to do with one task this run (default: run its agent). */
export type TaskPlan =
  | { mode: 'run' }
  /**
   * An earlier run's successful branch, merged again without starting the agent; or a branch
   * holding commits by people (`byPeople` says so for the report: see people.ts).
   */
  | { mode: 'reuse'; tip: string; changedFiles: string[]; durationMs: number; byPeople?: string }
  /** Work an agent did elsewhere (a matrix task job), merged here as if it had run here. */
  | {
      mode: 'merge'
      tip: string
      changedFiles: string[]
      durationMs: number
      logTail?: string
    }
  /** Neither run nor merged: an earlier result shown as it was. */
  | { mode: 'keep'; result: TaskResult }
  /** Taken out on request; its branch is left alone. */
  | { mode: 'drop' }

export interface EngineOptions {
  git: Git
  logger: Logger
  issue: { number: number; title: string; url?: string }
  /** Every task item of the list, checked ones included (they are reported as skipped). */
  tasks: Task[]
  plan?: Map<string, TaskPlan>
  baseBranch: string
  /** Commit every task branch starts from; must exist locally. */
  baseSha: string
  /** Where the integration branch starts, when not at the base (commits by people: people.ts). */
  integrationStart?: string
  /**
   * What the local integration branch must still point at when the run updates it ('' for "must
   * not exist"), so that commits made on it meanwhile are not overwritten. Unset: not checked.
   */
  integrationSeen?: string
  agentCommand: string
  /**
   * The known CLI behind agentCommand (the `agent` input): each of its agents then gets private
   * config directories of its own, and the files it is known to drop stay out of task commits.
   */
  agentPreset?: AgentPreset
  maxParallel: number
  taskTimeoutMs: number
  /** Between SIGTERM and SIGKILL when an agent is ended. */
  killGraceMs?: number
  branchPrefix: string
  /** Private directory for this issue's worktrees, prompts and logs (outside the workspace). */
  workDir: string
  identity: Identity
  /** Environment agents start from (scrubbed further). */
  agentBaseEnv: NodeJS.ProcessEnv
  /** Values that must never reach an agent's environment (tokens). */
  secrets: string[]
  /** Tried in order on a conflicting task; default ['report']. */
  conflictStrategies?: readonly ConflictStrategy[]
  maxReruns?: number
  /** Command for the `agent` strategy; default agentCommand. */
  resolveCommand?: string
  verify?: { command: string; mode: 'each' | 'final' }
  /** Fail tasks that change .github/workflows/ (pushing those needs the `workflows` permission). */
  blockWorkflowChanges?: boolean
  /** Ends agents when aborted; abort with reason 'deadline' for the run's time limit. */
  signal?: AbortSignal
  /**
   * Run the agents and stop there (a matrix task job): no verify, no integration branch; tasks
   * that produced work end as `ready`, with their branch pointing at it.
   */
  agentsOnly?: boolean
  /**
   * Takes the deletion of the worktrees' files, so that the run can return (and its result be
   * published) while a large checkout's thousands of files are still being unlinked: git no
   * longer knows the worktrees by then, and the caller awaits the promise (it never rejects)
   * before it exits. Without it, runFanout returns once the files are gone.
   */
  deferDeletion?: (deleted: Promise<void>) => void
}

const WORKFLOW_DIR = '.github/workflows/'

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
  await Promise.all([assertGitVersion(git), validateBranchPrefix(git, options.branchPrefix)])
  const integrationBranch = integrationBranchName(options.branchPrefix)
  await mkdir(options.workDir, { recursive: true })
  const workDir = await realpath(options.workDir)
  const dirs = { prompts: path.join(workDir, 'prompts'), logs: path.join(workDir, 'logs') }
  await mkdir(dirs.prompts, { recursive: true })
  await mkdir(dirs.logs, { recursive: true })
  const worktrees = new WorktreeManager(git, path.join(workDir, 'worktrees'), logger)
  const runId = randomBytes(6).toString('hex')
  const branchOf = (task: Task | IntegrationTask): string =>
    taskBranchName(options.branchPrefix, task.id)
  const marker = (slot: string): { name: string; value: string } => ({
    name: 'AGENT_FANOUT_MARKER',
    value: `${runId}-${slot}`
  })

  // A branch in the way of one the run needs (`<prefix>` blocks `<prefix>/T1`): refused now.
  await refuseLocalBranchClashes(git, [
    ...(options.agentsOnly ? [] : [integrationBranch]),
    ...options.tasks
      .filter((t) => !t.checked && !['drop', 'keep'].includes(options.plan?.get(t.id)?.mode ?? ''))
      .map(branchOf)
  ])

  const warnings: string[] = []
  // The object store keeps every object while agents run (see precious.ts); leftovers of a
  // crashed run go first; then the shared .git as it is before any agent.
  const protecting = worktrees
    .commonDir()
    .then((dir) => ObjectStoreGuard.protect(git, dir, runId, logger))
  const [checkedOut, guard, objects] = await Promise.all([
    worktrees.recover(),
    protecting.then(() => SharedGitGuard.snapshot(git)),
    protecting
  ])
  try {
    refuseCheckedOut(
      [
        ...(options.agentsOnly ? [] : [integrationBranch]),
        ...options.tasks
          .filter(
            (t) => !t.checked && !['keep', 'drop'].includes(options.plan?.get(t.id)?.mode ?? '')
          )
          .map(branchOf)
      ],
      checkedOut
    )
  } catch (error) {
    await objects.release()
    throw error
  }
  const runContext: RunContext = {
    issueNumber: options.issue.number,
    baseBranch: options.baseBranch,
    branchPrefix: options.branchPrefix,
    checkedOut,
    keepDir: path.join(workDir, 'kept'),
    excludes: options.agentPreset?.excludes ?? []
  }
  const warn = (message: string): void => {
    warnings.push(message)
    logger.warning(message)
  }
  /** Puts back shared .git config and hooks an agent changed, and records that it happened. */
  const checkSharedGit = async (after: string): Promise<void> => {
    const changes = await guard.restore()
    if (changes.length === 0) return
    const message = `The shared .git was changed while agents ran (noticed after ${after}): ${changes.join(', ')}. It was restored; the action's own git commands never run hooks.`
    warnings.push(message)
    logger.warning(message)
  }
  const results = new Map<string, TaskResult>()
  const produced = new Map<string, Produced>()
  /** Tasks whose agent succeeded and whose work is committed, judged after the last agent. */
  const committed: {
    task: Task
    tip: string
    durationMs: number
    common: Pick<TaskResult, 'logFile' | 'logTail' | 'exitCode' | 'timedOut'>
  }[] = []
  const toRun: Task[] = []
  for (const task of options.tasks) {
    const plan = options.plan?.get(task.id) ?? { mode: 'run' }
    const base = {
      id: task.id,
      title: task.title,
      branch: branchOf(task),
      changedFiles: [] as string[],
      durationMs: 0
    }
    if (task.checked)
      results.set(task.id, { ...base, status: 'skipped', reason: 'checked in the issue (done)' })
    else if (plan.mode === 'drop')
      results.set(task.id, {
        ...base,
        status: 'skipped',
        reason: 'dropped with /fanout drop; its branch is kept'
      })
    else if (plan.mode === 'keep') results.set(task.id, { ...plan.result, title: task.title })
    else if (plan.mode === 'reuse' || plan.mode === 'merge') {
      produced.set(task.id, { tip: plan.tip, changedFiles: plan.changedFiles })
      results.set(task.id, {
        ...base,
        status: 'merged',
        changedFiles: plan.changedFiles,
        durationMs: plan.durationMs,
        commit: plan.tip,
        ...(plan.mode === 'reuse' ? { reused: true } : {}),
        ...(plan.mode === 'reuse' && plan.byPeople ? { reason: plan.byPeople } : {}),
        ...(plan.mode === 'merge' && plan.logTail ? { logTail: plan.logTail } : {})
      })
      await git.run(['update-ref', `refs/heads/${branchOf(task)}`, plan.tip])
    } else toRun.push(task)
  }
  // As many worktrees at once as fit on the disk where they go, or none started (disk.ts).
  const maxParallel = await fitOnDisk(git, options, worktrees.root, toRun.length, (warning) => {
    warnings.push(warning)
    logger.warning(warning)
  })
  // Every agent's output FIFOs in one process, made while the first worktrees are checked out.
  const fifos = new FifoPool(dirs.logs)
  void fifos.fill(toRun.length)

  /**
   * A worktree for `slot` at `startSha` for the length of fn, removed afterwards whatever
   * happens. When every task has its own worktree at once anyway (no more tasks than
   * max-parallel), removal waits until the last agent is done and then runs for all of them
   * together, alongside the merge, or after the run when the caller takes the deletion
   * (deferDeletion): it neither competes with the other tasks' work nor costs a process per
   * task. Otherwise the slot is free only once its files are gone, so at most max-parallel
   * worktrees are ever on disk.
   */
  const withWorktree = async <T>(
    slot: string,
    branch: string | undefined,
    startSha: string,
    fn: (wt: Worktree, release: () => void) => Promise<T>,
    waitForRemoval = true
  ): Promise<T> => {
    const wt = await worktrees
      .create(slot, branch, startSha)
      .catch(noSpaceAt(`while creating the worktree ${worktrees.pathFor(slot)}`))
    // A task that failed needs its files no more: they go at once (a full disk gets room back).
    let removeNow = waitForRemoval
    try {
      return await fn(wt, () => (removeNow = true))
    } catch (error) {
      removeNow = true
      throw error
    } finally {
      if (removeNow) await worktrees.remove(wt.path)
      else laterRemovals.push(wt.path)
    }
  }
  const laterRemovals: string[] = []

  // Said once: without the subreaper a daemon that clears its environment can outlive its task.
  const reaperNote = subreaperAvailable().then((ok) => {
    if (!ok)
      logger.debug(
        'no child subreaper here (needs Linux and perl): agents run without the supervisor'
      )
  })
  const startAgent = async (
    task: Task,
    wt: Worktree,
    slot: string,
    command: string,
    prompt: string,
    extraEnv: Record<string, string>,
    startSha: string
  ): Promise<{ run: AgentRunResult; logFile: string }> => {
    const promptFile = path.join(dirs.prompts, `${slot}.md`)
    await writeFile(promptFile, prompt).catch(
      noSpaceAt(`while writing the prompt file ${promptFile}`)
    )
    const isolation = options.agentPreset
      ? await isolate(
          options.agentPreset,
          path.join(workDir, 'agent-state', slot),
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
        TASK_BRANCH: branchOf(task),
        TASK_WORKTREE: wt.path,
        ISSUE_NUMBER: String(options.issue.number),
        ISSUE_TITLE: options.issue.title,
        BASE_BRANCH: options.baseBranch,
        BASE_SHA: startSha,
        ...extraEnv
      },
      { secrets: options.secrets, identity: options.identity, marker: marker(slot) }
    )
    const logFile = path.join(dirs.logs, `${slot}.log`)
    await reaperNote
    const run = await runAgent({
      command,
      cwd: wt.path,
      env,
      logFile,
      timeoutMs: options.taskTimeoutMs,
      killGraceMs: options.killGraceMs ?? 5000,
      marker: marker(slot),
      onLine: (line) => logger.info(`[${slot}] ${line}`),
      signal: options.signal,
      fifoPool: fifos
    }).finally(() => isolation?.dispose())
    return { run, logFile }
  }

  const blockedWorkflowFiles = (files: string[]): string | undefined => {
    const touched = files.filter((f) => f.startsWith(WORKFLOW_DIR))
    if (!options.blockWorkflowChanges || touched.length === 0) return undefined
    return `it changes ${touched.join(', ')}; pushing workflow files needs a token with the \`workflows\` permission (GITHUB_TOKEN never has it). Use such a token and set allow-workflow-changes: true, or keep the task away from .github/workflows/`
  }

  const failure = (run: AgentRunResult, what = 'agent'): string | undefined => {
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

  const runTask = async (task: Task): Promise<void> => {
    const branch = branchOf(task)
    const started = Date.now()
    let kept = false
    const finish = (partial: Omit<TaskResult, 'id' | 'title' | 'branch' | 'durationMs'>): void => {
      results.set(task.id, {
        id: task.id,
        title: task.title,
        branch,
        durationMs: Date.now() - started,
        ...partial
      })
    }
    if (options.signal?.aborted)
      return finish({ status: 'failed', changedFiles: [], reason: 'cancelled before it started' })
    await withWorktree(
      task.id,
      branch,
      options.baseSha,
      async (wt, release) => {
        logger.info(`[${task.id}] started: ${task.title}`)
        const prompt = renderPrompt({
          issue: options.issue,
          task,
          siblings: options.tasks,
          branch,
          baseBranch: options.baseBranch
        })
        const { run, logFile } = await startAgent(
          task,
          wt,
          task.id,
          options.agentCommand,
          prompt,
          { TASK_MODE: 'run' },
          options.baseSha
        )
        await checkSharedGit(task.id)
        const common = {
          logFile,
          logTail: run.logTail,
          exitCode: run.exitCode,
          timedOut: run.timedOut
        }
        const failed = failure(run)
        if (failed) {
          release()
          return finish({ ...common, status: 'failed', changedFiles: [], reason: failed })
        }
        // What the work is worth (its ancestry, the files it changes) is asked of git once for
        // all tasks after the last agent: two processes in all instead of two per task.
        const work = await collectWork(
          git,
          wt,
          taskCollectOptions(runContext, task, branch, options.baseSha)
        ).catch(noSpaceAt(`while committing its work in ${wt.path}`))
        if ('error' in work) {
          kept = work.keepBranch
          return finish({
            ...common,
            status: 'failed',
            changedFiles: [],
            reason: work.error,
            ...(work.saved ? { commit: work.saved } : {})
          })
        }
        if (work.note) warn(`[${task.id}] ${work.note}`)
        committed.push({ task, tip: work.tip, durationMs: Date.now() - started, common })
      },
      // Wait for the removal only where another task will need the slot (see withWorktree).
      toRun.length > maxParallel
    )
    if (committed.some((c) => c.task === task)) return
    // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind
    // (one whose work could not be committed, or did not finish, keeps it).
    if (!kept) await git.run(['update-ref', '-d', `refs/heads/${branch}`])
    logger.info(`[${task.id}] ${describe(results.get(task.id))}`)
  }

  const verifier = createVerifier()
  let integration: Awaited<ReturnType<typeof integrate>>
  let verify: VerifyResult | undefined
  let mergesLost = false
  try {
    await logger.group(`Run ${toRun.length} agent(s), at most ${maxParallel} at once`, () =>
      mapWithConcurrency(toRun, maxParallel, async (task) => {
        try {
          await runTask(task)
        } catch (error) {
          // A broken worktree or git failure ends this task, not the others.
          results.set(task.id, {
            id: task.id,
            title: task.title,
            branch: branchOf(task),
            status: 'failed',
            changedFiles: [],
            durationMs: 0,
            reason: `could not run the task: ${errorMessage(error)}`
          })
          logger.warning(`[${task.id}] ${errorMessage(error)}`)
        }
      })
    )

    // Deleted now, alongside the merge, unless the caller takes the deletion for later.
    if (!options.deferDeletion)
      worktrees
        .remove(...laterRemovals)
        .catch((error: unknown) =>
          logger.warning(`Could not remove the tasks' worktrees: ${errorMessage(error)}`)
        )
    await checkSharedGit('all agents')
    const [surveys, tips] = await Promise.all([
      surveyEach(
        git,
        options.baseSha,
        committed.map((c) => c.tip)
      ),
      branchTips(git, options.branchPrefix)
    ])
    for (const { task, tip, durationMs, common } of committed) {
      const branch = branchOf(task)
      const base = { id: task.id, title: task.title, branch, durationMs, ...common }
      const work = judgeWork(tip, surveys.get(tip), options.baseSha)
      const workflows = 'error' in work ? undefined : blockedWorkflowFiles(work.changedFiles)
      // Work that is not a result (it left the base) is still kept on its branch.
      const keep = 'error' in work && surveyOf(surveys.get(tip))?.own === true
      if (keep)
        results.set(task.id, {
          ...base,
          status: 'failed',
          changedFiles: [],
          reason: `${work.error}; its branch ${branch} keeps that work`,
          commit: tip
        })
      else if ('error' in work)
        results.set(task.id, { ...base, status: 'failed', changedFiles: [], reason: work.error })
      else if (work.changedFiles.length === 0)
        results.set(task.id, {
          ...base,
          status: 'no-changes',
          changedFiles: [],
          reason: 'the agent changed no file'
        })
      else if (workflows)
        results.set(task.id, {
          ...base,
          status: 'failed',
          changedFiles: work.changedFiles,
          reason: workflows
        })
      else {
        produced.set(task.id, work)
        results.set(task.id, {
          ...base,
          status: 'merged',
          changedFiles: work.changedFiles,
          commit: work.tip
        })
      }
      // Rollback is deleting a branch: a task that produced nothing to merge leaves none behind.
      if (!produced.has(task.id) && !keep) {
        await git.run(['update-ref', '-d', `refs/heads/${branch}`])
        tips.delete(`refs/heads/${branch}`)
      }
      logger.info(`[${task.id}] ${describe(results.get(task.id))}`)
    }
    // Refs are shared too: an agent may have moved another task's branch. The recorded result
    // is what gets merged and pushed; the move is reported.
    for (const [id, work] of produced) {
      const branch = taskBranchName(options.branchPrefix, id)
      const now = tips.get(`refs/heads/${branch}`) ?? ''
      if (now !== work.tip) {
        const message = `Branch ${branch} was moved outside its task (to ${now.slice(0, 12) || 'nothing'}); the task's own result ${work.tip.slice(0, 12)} is used.`
        warnings.push(message)
        logger.warning(message)
        await git.run(['update-ref', `refs/heads/${branch}`, work.tip])
      }
    }
    if (options.agentsOnly) {
      for (const id of produced.keys()) results.get(id)!.status = 'ready'
      return {
        baseBranch: options.baseBranch,
        baseSha: options.baseSha,
        integrationBranch,
        integrationSha: options.baseSha,
        tasks: options.tasks.map((task) => results.get(task.id)!),
        ...(warnings.length ? { warnings } : {})
      }
    }
    const byId = new Map(options.tasks.map((t) => [t.id, t]))
    let verifyEach = options.verify?.mode === 'each'
    if (verifyEach) {
      const onBase = await verifier.run(options.baseSha, 'verify-base')
      if (!onBase.ok) {
        verifyEach = false
        verify = {
          ...onBase,
          mode: 'each',
          note: `the verify command already fails on the base commit, so it was not used to judge tasks`
        }
        logger.warning(
          `verify-command fails on the base ${options.baseSha.slice(0, 12)} already; not judging tasks by it`
        )
      }
    }
    const hooks: IntegrationHooks = {
      strategies: options.conflictStrategies ?? ['report'],
      maxReruns: options.maxReruns ?? 1,
      logger,
      rerun: async (it, onto, attempt, conflict) => {
        const task = byId.get(it.id)!
        const slot = `${it.id}-rerun${attempt}`
        return withWorktree(slot, undefined, onto, async (wt) => {
          logger.info(
            `[${slot}] re-running ${it.id} on the integration branch (${onto.slice(0, 12)})`
          )
          const prompt =
            renderPrompt({
              issue: options.issue,
              task,
              siblings: options.tasks,
              branch: branchOf(task),
              baseBranch: options.baseBranch
            }) + renderRerunNote(conflict)
          const { run } = await startAgent(
            task,
            wt,
            slot,
            options.agentCommand,
            prompt,
            { TASK_MODE: 'rerun' },
            onto
          )
          await checkSharedGit(slot)
          const failed = failure(run)
          if (failed) return { error: failed }
          const work = await collectAndJudge(
            git,
            wt,
            taskCollectOptions(runContext, task, undefined, onto)
          )
          if ('error' in work) return work
          if (work.changedFiles.length === 0) return { error: 'the re-run changed no file' }
          const workflows = blockedWorkflowFiles(work.changedFiles)
          if (workflows) return { error: workflows }
          await git.run(['update-ref', `refs/heads/${branchOf(task)}`, work.tip])
          const changed = await git.out([
            'diff',
            '--name-only',
            '-z',
            '--no-renames',
            options.baseSha,
            work.tip
          ])
          return { tip: work.tip, changedFiles: changed.split('\0').filter(Boolean) }
        }).catch(gaveUpForNoSpace)
      },
      resolve: async (it, onto, conflict, mergedSoFar) => {
        const task = byId.get(it.id)!
        const slot = `${it.id}-resolve`
        return withWorktree(slot, undefined, onto, async (wt) => {
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
            integrationBranch
          })
          const { run } = await startAgent(
            task,
            wt,
            slot,
            options.resolveCommand ?? options.agentCommand,
            prompt,
            { TASK_MODE: 'resolve', CONFLICT_FILES: conflict.files.join('\n') },
            onto
          )
          await checkSharedGit(slot)
          const failed = failure(run, 'resolve command')
          if (failed) return { error: failed }
          return acceptResolution(git, wt, onto, it.tip, conflict)
        }).catch(gaveUpForNoSpace)
      },
      verify: verifyEach ? async (commit, it) => verifier.run(commit, `verify-${it.id}`) : undefined
    }
    integration = await logger.group('Merge task branches into the integration branch', () =>
      integrate(git, {
        baseSha: options.baseSha,
        startSha: options.integrationStart,
        expectedTip: options.integrationSeen,
        integrationBranch,
        issueNumber: options.issue.number,
        tasks: options.tasks
          .filter((t) => produced.has(t.id))
          .map((t) => {
            const plan = options.plan?.get(t.id)
            const keepBranch = plan?.mode === 'reuse' && plan.byPeople !== undefined
            return {
              id: t.id,
              title: t.title,
              branch: branchOf(t),
              keepBranch,
              ...produced.get(t.id)!
            }
          }),
        hooks,
        surveys: new Map(
          [...surveys].filter((entry): entry is [string, TipSurvey] => !('error' in entry[1]))
        )
      }).catch(async (error: unknown) => {
        // No room to write the merges: the tasks fail, their work stays on their branches.
        if (!isNoSpace(error)) throw error
        mergesLost = true
        const reason = `${asNoSpace(error, `while merging into ${integrationBranch} in ${git.repoDir}`).message}; its work is kept on its branch`
        for (const id of produced.keys())
          Object.assign(results.get(id)!, { status: 'failed', reason })
        logger.warning(reason)
        // Left where it started: the base, or the branch as people left it.
        return { sha: options.integrationStart ?? options.baseSha, outcomes: [] }
      })
    )
    if (options.verify?.mode === 'final' && !mergesLost) {
      verify = await logger.group('Verify the integration branch', async () => ({
        ...(await verifier.run(integration.sha, 'verify-final')),
        mode: 'final' as const
      }))
    }
  } finally {
    await fifos.dispose()
    // No agent runs any more: the object store needs no protection (taken back alongside).
    const released = objects
      .release()
      .catch((error: unknown) =>
        logger.warning(`Could not take back extensions.preciousObjects: ${errorMessage(error)}`)
      )
    if (options.deferDeletion) {
      const { deleted } = await worktrees.detachAll()
      options.deferDeletion(Promise.all([deleted, released]).then(() => undefined))
    } else await Promise.all([worktrees.removeAll(), released])
  }

  for (const outcome of integration.outcomes) {
    const result = results.get(outcome.id)!
    Object.assign(result, {
      status: outcome.status,
      commit: outcome.tip,
      changedFiles: outcome.changedFiles,
      conflict: outcome.conflict,
      attempts: outcome.attempts,
      verifyTail: outcome.verifyTail
    })
    if (outcome.status === 'conflicted')
      result.reason = `conflicts with the integration branch in ${outcome.conflict?.files.join(', ') || 'the tree'}`
    if (outcome.status === 'broke-verify')
      result.reason = 'merged cleanly, but the verify command fails with it; taken back out'
  }
  if (integration.movedTo !== undefined) {
    const message = `${integrationBranch} was changed while this run worked (it is now at ${integration.movedTo.slice(0, 12) || 'nothing'}), so it was left as it is; this run's result is commit ${integration.sha.slice(0, 12)}. Run again: commits made on the branch are kept.`
    warnings.push(message)
    logger.warning(message)
  }

  return {
    baseBranch: options.baseBranch,
    baseSha: options.baseSha,
    integrationBranch,
    integrationSha: integration.sha,
    tasks: options.tasks.map((task) => results.get(task.id)!),
    ...(verify ? { verify } : {}),
    ...(warnings.length ? { warnings } : {})
  }

  /** Runs the verify command in one detached worktree that is moved from commit to commit. */
  function createVerifier(): {
    run(commit: string, slot: string): Promise<Omit<VerifyResult, 'mode'>>
  } {
    let wt: Worktree | undefined
    return {
      async run(commit, slot) {
        const command = options.verify!.command
        try {
          if (!wt) wt = await worktrees.create('integration', undefined, commit)
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
            marker: marker(slot)
          }),
          TASK_MODE: 'verify',
          VERIFY_COMMIT: commit
        }
        const run = await runAgent({
          command,
          cwd: wt.path,
          env,
          logFile: path.join(dirs.logs, `${slot}.log`),
          timeoutMs: options.taskTimeoutMs,
          killGraceMs: options.killGraceMs ?? 5000,
          marker: marker(slot),
          onLine: (line) => logger.info(`[${slot}] ${line}`),
          signal: options.signal
        })
        logger.info(
          `[${slot}] ${run.exitCode === 0 ? 'passed' : `failed (${failure(run, 'verify command')})`}`
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
}

/**
 * Accepts a resolve command's work only when no conflict markers remain in any file, nothing is
 * left unmerged in the index, and the result is a commit containing both sides (the command may
 * commit itself; if it only edited and staged, the merge is concluded here).
 */
async function acceptResolution(
  git: Git,
  worktree: Worktree,
  onto: string,
  tip: string,
  conflict: ConflictInfo
): Promise<{ commit: string } | { error: string }> {
  // Its own git dir, named explicitly, and a HEAD that is still detached: a commit here moves no
  // branch, whatever the command did to the worktree's .git file or HEAD.
  const at = { cwd: worktree.path, env: worktreeEnv(worktree) }
  const wt = worktree.path
  const head = await readHead(worktree)
  if (head.ref || head.unreadable)
    return { error: `it left the worktree's HEAD on ${head.ref ?? 'nothing readable'}` }
  const markers = await git.run(['grep', '-l', '-I', '-E', '^(<<<<<<<|>>>>>>>)( |$)', '--', '.'], {
    ...at,
    okExitCodes: [1]
  })
  const marked = [
    ...new Set([
      ...markers.stdout.split('\n').filter(Boolean),
      ...(await filesWithMarkers(wt, conflict.files))
    ])
  ]
  if (marked.length > 0) return { error: `conflict markers remain in ${marked.join(', ')}` }
  const unmerged = await git.out(['ls-files', '-u', '--', ...conflict.files], at)
  if (unmerged) {
    const files = [...new Set(unmerged.split('\n').map((l) => l.split('\t')[1]))]
    return {
      error: `the index still has unmerged paths: ${files.join(', ')} (resolve them and git add)`
    }
  }
  const mergeHead = await git.run(['rev-parse', '-q', '--verify', 'MERGE_HEAD'], {
    ...at,
    okExitCodes: [1]
  })
  if (mergeHead.exitCode === 0) {
    await git.run(['add', '--all'], at)
    await git.run(['commit', '--no-verify', '--no-edit', '--quiet'], at)
  }
  const commit = await git.out(['rev-parse', 'HEAD'], at)
  for (const side of [onto, tip]) {
    if (!(await git.test(['merge-base', '--is-ancestor', side, commit]))) {
      return {
        error: `the result ${commit.slice(0, 12)} does not contain ${side === tip ? "the task's work" : 'the integration branch'}`
      }
    }
  }
  return { commit }
}

/** A conflict strategy that ran out of disk gives up on its task; the integration goes on. */
function gaveUpForNoSpace(error: unknown): { error: string } {
  if (!isNoSpace(error)) throw error
  return { error: errorMessage(error) }
}

/** Conflicted files that still hold markers, tracked or not (git grep sees only tracked ones). */
async function filesWithMarkers(wt: string, files: string[]): Promise<string[]> {
  const found: string[] = []
  for (const file of files) {
    const text = await readFile(path.join(wt, file), 'utf8').catch(() => '')
    if (/^(<<<<<<<|>>>>>>>)( |$)/m.test(text)) found.push(file)
  }
  return found
}

const surveyOf = (s: TipSurvey | { error: string } | undefined): TipSurvey | undefined =>
  s && !('error' in s) ? s : undefined

/** The task's result, if it is one: a commit on top of where the task started, and what it changes. */
function judgeWork(
  tip: string,
  survey: TipSurvey | { error: string } | undefined,
  startSha: string
): Produced | { error: string } {
  if (!survey) return { error: `its result ${tip.slice(0, 12)} could not be read` }
  if ('error' in survey) return survey
  if (!survey.descends) {
    return {
      error: `the agent left HEAD at ${tip.slice(0, 12)}, which does not descend from ${startSha.slice(0, 12)}`
    }
  }
  return { tip, changedFiles: survey.changes.map((change) => change.path) }
}

/**
 * surveyTips() for all tips at once; if git refuses the batch (a tip that is not a commit, say
 * an agent wrote nonsense into its HEAD), each tip on its own, so one bad tip fails only its task.
 */
async function surveyEach(
  git: Git,
  baseSha: string,
  tips: string[]
): Promise<Map<string, TipSurvey | { error: string }>> {
  if (tips.length === 0) return new Map()
  try {
    return await surveyTips(git, baseSha, tips)
  } catch {
    const one = async (tip: string): Promise<[string, TipSurvey | { error: string }]> => {
      try {
        return [tip, (await surveyTips(git, baseSha, [tip])).get(tip)!]
      } catch (error) {
        return [
          tip,
          { error: `its result ${tip.slice(0, 12)} is not usable: ${errorMessage(error)}` }
        ]
      }
    }
    return new Map(await Promise.all(tips.map(one)))
  }
}

/** Collects what a re-run left and judges it (one task, all of it at once). */
async function collectAndJudge(
  git: Git,
  wt: Worktree,
  options: CollectOptions
): Promise<Produced | { error: string }> {
  const work = await collectWork(git, wt, options)
  if ('error' in work) return { error: work.error }
  const survey = (await surveyEach(git, options.startSha, [work.tip])).get(work.tip)
  return judgeWork(work.tip, survey, options.startSha)
}

/** Every branch under the prefix and the commit it points at, from one git process. */
async function branchTips(git: Git, prefix: string): Promise<Map<string, string>> {
  const out = await git.out([
    'for-each-ref',
    '--format=%(objectname) %(refname)',
    `refs/heads/${prefix}/`
  ])
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))])
  )
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
