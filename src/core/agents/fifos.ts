import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, openSync, rmSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { toolEnv } from '../util/tool-env.js'

const execFileAsync = promisify(execFile)

/**
 * One agent's stdout and stderr FIFOs, open at both ends and already unlinked: the read ends
 * (non-blocking) for the action, the write ends for the agent.
 */
export interface OpenFifos {
  read: [number, number]
  write: [number, number]
}

/** Paths per mkfifo process; well under any argv limit. */
const BATCH = 128
/** Pairs held open ahead at most (four descriptors each); more are made on demand. */
const MAX_READY = 64

/**
 * The agents' output FIFOs, made ahead of time: one `mkfifo` for every agent of a run instead of
 * one per agent. Node has no mkfifo of its own, and starting a process from Node blocks its main
 * thread for 8–20 ms on a 2-core runner (fork copies the page tables of the whole action), time
 * taken from starting the next checkout or agent. Each FIFO is opened at both ends and unlinked
 * as soon as it is made, so while it waits in the pool no path leads to it: an agent already
 * running cannot swap it or listen in on a later agent's output.
 */
export class FifoPool {
  private ready: OpenFifos[] = []
  private filling: Promise<void> = Promise.resolve()

  constructor(private readonly dir: string) {}

  /** Makes `pairs` more pairs (up to MAX_READY waiting), in the background; a failure only leaves the pool empty. */
  fill(pairs: number): Promise<void> {
    this.filling = this.filling
      .then(async () => {
        const wanted = Math.min(pairs, MAX_READY - this.ready.length)
        if (wanted > 0) this.ready.push(...(await makeOpenFifos(this.dir, wanted)))
      })
      .catch(() => undefined)
    return this.filling
  }

  /** A pair nobody else has (the caller owns its descriptors); made now if none is ready; undefined if that fails. */
  async take(): Promise<OpenFifos | undefined> {
    await this.filling
    return this.ready.shift() ?? (await makeOpenFifos(this.dir, 1))[0]
  }

  /** Closes the pairs nobody took, once a fill under way has finished (it would add more). */
  async dispose(): Promise<void> {
    await this.filling
    for (const pair of this.ready.splice(0)) closeFifos(pair)
  }
}

/** `count` pairs of FIFOs made in `dir` (owner-only), opened and unlinked; fewer if that fails. */
export async function makeOpenFifos(dir: string, count: number): Promise<OpenFifos[]> {
  const opened: OpenFifos[] = []
  for (let i = 0; i < count; i += BATCH / 2) {
    const pairs = Array.from({ length: Math.min(BATCH / 2, count - i) }, () => pairPaths(dir))
    const paths = pairs.flat()
    try {
      await execFileAsync('mkfifo', ['-m', '600', '--', ...paths], { env: toolEnv() })
    } catch {
      // mkfifo missing, or the directory refuses: the caller uses pipes
      for (const p of paths) rmSync(p, { force: true })
      break
    }
    for (const pair of pairs) {
      const open = openFifos(pair)
      if (open) opened.push(open)
    }
  }
  return opened
}

/**
 * Opens both ends of a pair of FIFOs and unlinks them whatever happens. Read ends first,
 * non-blocking, so that opening the write ends does not wait; no link is followed, and both ends
 * must be the same FIFO. Undefined (nothing left open) if any of that fails.
 */
export function openFifos(paths: [string, string]): OpenFifos | undefined {
  const fds: number[] = []
  try {
    for (const p of paths)
      fds.push(openSync(p, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW))
    for (const p of paths) fds.push(openSync(p, constants.O_WRONLY | constants.O_NOFOLLOW))
    for (const i of [0, 1]) {
      const [read, write] = [fstatSync(fds[i]), fstatSync(fds[i + 2])]
      if (!read.isFIFO() || read.ino !== write.ino || read.dev !== write.dev)
        throw new Error(`${paths[i]} is not the FIFO just made`)
    }
    return { read: [fds[0], fds[1]], write: [fds[2], fds[3]] }
  } catch {
    for (const fd of fds) closeSync(fd)
    return undefined
  } finally {
    for (const p of paths) rmSync(p, { force: true })
  }
}

export function closeFifos(pair: OpenFifos): void {
  for (const fd of [...pair.read, ...pair.write]) closeSync(fd)
}

function pairPaths(dir: string): [string, string] {
  const base = path.join(dir, `.fifo-${randomBytes(6).toString('hex')}`)
  return [`${base}.out`, `${base}.err`]
}
