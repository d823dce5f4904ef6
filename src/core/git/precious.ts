import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from '../types.js'
import { errorMessage } from '../util/errors.js'
import type { Git } from './git.js'

/** Where runs that protect the object store say so: one file per run, named `<pid>-<run id>`. */
const MARKERS = 'agent-fanout-precious'
/** Present while the setting is one agent-fanout made (and so must take back); says how. */
const SET_HERE = 'set-by-agent-fanout'

/**
 * Keeps every object in the shared store while agents run, by setting git's
 * `extensions.preciousObjects` in the repository's config for the length of the run.
 *
 * Every task's worktree shares one object store, and git's destructive maintenance (`git gc
 * --prune=now`, `git prune`, `git repack -a -d`) deletes any object no ref, HEAD or index
 * reaches at the moment it looks: the blobs a sibling's `git add` has written but not yet
 * recorded in its index, the trees and commit of a `git commit` not yet on its branch, the
 * action's own merges before the integration branch points at them. An agent that runs such
 * maintenance in a loop makes healthy siblings fail with "invalid object". With the setting,
 * `git gc` keeps everything (it skips repacking and pruning), and `git prune` and
 * `git repack -d` refuse to run ("cannot prune in a precious-objects repo"); nothing else in git
 * changes. Git honours it in repositories of format version 0 (the usual kind) as one of the
 * extensions that predate format version 1, so the format version is left alone and tools that
 * only know version 0 still open the repository.
 *
 * This beats giving each task a private object directory: it also covers the objects agents
 * write themselves (their own commits), and the action's merges during the integration phase,
 * at the cost of one git process when the run starts and two when it ends, none per task.
 *
 * The setting is taken back when the run ends, unless it was there before the run (the
 * repository's owner wants it) or another run in the same repository still needs it. A run that
 * died before it could take it back leaves a marker; the next run takes it back for it.
 */
export class ObjectStoreGuard {
  private constructor(
    private readonly git: Git,
    private readonly commonDir: string,
    private readonly marker: string | undefined
  ) {}

  static async protect(
    git: Git,
    commonDir: string,
    runId: string,
    logger: Logger
  ): Promise<ObjectStoreGuard> {
    const dir = path.join(commonDir, MARKERS)
    try {
      await mkdir(dir, { recursive: true })
      const marker = path.join(dir, `${process.pid}-${runId}`)
      await writeFile(marker, '')
      // Read from the file, not asked of git (a process): the key, and whether the section exists.
      const config = await readFile(path.join(commonDir, 'config'), 'utf8')
      if (!/^\s*preciousobjects\s*=\s*(true|yes|on|1)\s*$/im.test(config)) {
        await git.run(['config', 'extensions.preciousObjects', 'true'])
        // Whether the [extensions] section is ours too (taken back with the setting).
        const section = /^\s*\[extensions\]/im.test(config) ? 'key' : 'section'
        await writeFile(path.join(dir, SET_HERE), `${section}\n`)
      }
      return new ObjectStoreGuard(git, commonDir, marker)
    } catch (error) {
      // Not fatal: without it a sibling's maintenance can cost a task its objects, and the
      // collect step falls back to committing from the worktree's files.
      logger.warning(
        `Could not protect the shared object store for the run (extensions.preciousObjects): ${errorMessage(error)}`
      )
      return new ObjectStoreGuard(git, commonDir, undefined)
    }
  }

  /**
   * Takes back what runs that died left (the action's post step, after a main step killed
   * outright): their markers name processes that are gone, so the setting is released unless a
   * living run still needs it.
   */
  static releaseAbandoned(git: Git, commonDir: string): Promise<void> {
    return new ObjectStoreGuard(git, commonDir, undefined).release()
  }

  /** Takes the setting back unless another living run in this repository still needs it. */
  async release(): Promise<void> {
    const dir = path.join(this.commonDir, MARKERS)
    if (this.marker) await rm(this.marker, { force: true })
    const others = (await readdir(dir).catch(() => [] as string[])).filter(
      (name) => name !== SET_HERE && isAlive(Number(name.split('-')[0]))
    )
    if (others.length > 0) return
    const how = await readFile(path.join(dir, SET_HERE), 'utf8').catch(() => undefined)
    if (how !== undefined) {
      // Exit 5: it is not set (any more); nothing to take back.
      await this.git.run(['config', '--unset-all', 'extensions.preciousObjects'], {
        okExitCodes: [5]
      })
      // The section it came in, when that is ours and nothing else was put in it meanwhile.
      const config = await readFile(path.join(this.commonDir, 'config'), 'utf8')
      if (how.startsWith('section') && /^\s*\[extensions\]\s*(^\s*\[|(?![\s\S]))/im.test(config))
        await this.git.run(['config', '--remove-section', 'extensions'], { okExitCodes: [128] })
    }
    await rm(dir, { recursive: true, force: true })
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
