import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../types.js'
import type { Git } from './git.js'

export interface RemoteLock {
  ref: string
  /** The lock commit this run pushed (what a release leases against). */
  sha: string
  release(): Promise<void>
}

export class LockTimeout extends Error {}

/** A hosted job lives at most 6 hours: a lock older than that belongs to a dead run. */
const STALE_AFTER_MS = 6 * 60 * 60 * 1000

/**
 * A lock shared by every runner: a ref on the remote, created by a push whose lease says "it must
 * not exist yet", which the server applies atomically. A second run for the same issue waits for
 * it (so its request is served after the first, on the state the first left), takes over a lock
 * older than any job can live, and gives up with a clear error after `waitMs`.
 */
export async function acquireRemoteLock(
  git: Git,
  options: {
    remote: string
    ref: string
    holder: string
    auth: Record<string, string>
    waitMs: number
    logger: Logger
    signal?: AbortSignal
  }
): Promise<RemoteLock> {
  const { remote, ref, auth, logger } = options
  const emptyTree = await git.out(['mktree'], { stdin: '' })
  const lock = await git.out(['commit-tree', emptyTree, '-F', '-'], {
    stdin: `agent-fanout lock\n\nHolder: ${options.holder}\n`
  })
  const tryPush = async (expected: string): Promise<boolean> => {
    const result = await git.run(
      ['push', '--porcelain', `--force-with-lease=${ref}:${expected}`, remote, `${lock}:${ref}`],
      { config: auth, okExitCodes: [1] }
    )
    return result.exitCode === 0
  }
  const started = Date.now()
  let announced = ''
  for (let attempt = 0; ; attempt++) {
    if (await tryPush('')) break
    const holder = await readHolder(git, remote, ref, auth)
    if (!holder) continue // released between our push and our look: try again at once
    if (Date.now() - holder.since > STALE_AFTER_MS) {
      logger.warning(
        `Taking over a stale lock of ${holder.who} from ${new Date(holder.since).toISOString()}`
      )
      if (await tryPush(holder.sha)) break
      continue
    }
    if (announced !== holder.sha) {
      logger.info(
        `Another run holds the lock for this issue (${holder.who}); waiting for it to finish`
      )
      announced = holder.sha
    }
    if (Date.now() - started > options.waitMs || options.signal?.aborted) {
      throw new LockTimeout(
        `another agent-fanout run for this issue (${holder.who}) is still working after ${Math.round((Date.now() - started) / 60000)} min of waiting; this run made no change. Run it again when that run has finished.`
      )
    }
    await sleep(attempt < 30 ? 2000 : 10000)
  }
  logger.info(`Holding the lock ${ref}`)
  return {
    ref,
    sha: lock,
    release: () => releaseRemoteLock(git, { remote, ref, sha: lock, auth, logger })
  }
}

/** Deletes the lock ref if it is still ours (a lease on our commit). */
export async function releaseRemoteLock(
  git: Git,
  options: {
    remote: string
    ref: string
    sha: string
    auth: Record<string, string>
    logger: Logger
  }
): Promise<void> {
  const { ref } = options
  const result = await git.run(
    ['push', '--porcelain', `--force-with-lease=${ref}:${options.sha}`, options.remote, `:${ref}`],
    {
      config: options.auth,
      okExitCodes: [1]
    }
  )
  if (result.exitCode !== 0)
    options.logger.warning(`Could not release the lock ${ref}: ${result.stderr.trim()}`)
}

async function readHolder(
  git: Git,
  remote: string,
  ref: string,
  auth: Record<string, string>
): Promise<{ sha: string; who: string; since: number } | undefined> {
  const line = await git.out(['ls-remote', remote, ref], { config: auth })
  const sha = line.split('\t')[0]
  if (!sha) return undefined
  const seen = 'refs/agent-fanout/seen-lock'
  const fetched = await git.run(
    ['fetch', '--no-tags', '--no-auto-maintenance', remote, `+${ref}:${seen}`],
    { config: auth, okExitCodes: [1, 128] }
  )
  if (fetched.exitCode !== 0) return { sha, who: 'another run', since: Date.now() }
  const [time, ...body] = (await git.out(['log', '-1', '--format=%ct%n%B', sha])).split('\n')
  const who = body.find((l) => l.startsWith('Holder: '))?.slice('Holder: '.length) ?? 'another run'
  return { sha, who, since: Number(time) * 1000 }
}
