import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { toolEnv } from '../util/tool-env.js'

const execFileAsync = promisify(execFile)

/** A pair of FIFO paths for one agent's stdout and stderr. */
export type FifoPair = [string, string]

/** Paths per mkfifo process; well under any argv limit. */
const BATCH = 128

/**
 * The agents' output FIFOs, made ahead of time: one `mkfifo` for every agent of a run instead of
 * one per agent. Node has no mkfifo of its own, and starting a process from Node blocks its main
 * thread for 8–20 ms on a 2-core runner (fork copies the page tables of the whole action), time
 * taken from starting the next checkout or agent. The FIFOs are owner-only, in a directory private
 * to the run; each is unlinked as soon as its agent has it open, and `dispose` removes the rest.
 */
export class FifoPool {
  private ready: FifoPair[] = []
  private filling: Promise<void> = Promise.resolve()
  private made = new Set<string>()

  constructor(private readonly dir: string) {}

  /** Makes `pairs` more pairs, in the background; a failure only leaves the pool empty. */
  fill(pairs: number): Promise<void> {
    if (pairs <= 0) return this.filling
    this.filling = this.filling.then(async () => {
      const pending = Array.from({ length: pairs }, () => this.pairPaths())
      this.ready.push(...(await makeFifos(pending, (p) => this.made.add(p))))
    })
    return this.filling
  }

  /** A pair of FIFOs nobody else has; made now if none is ready; undefined if mkfifo fails. */
  async take(): Promise<FifoPair | undefined> {
    await this.filling
    const pair =
      this.ready.shift() ?? (await makeFifos([this.pairPaths()], (p) => this.made.add(p)))[0]
    if (pair) for (const p of pair) this.made.delete(p)
    return pair
  }

  /** Removes the FIFOs nobody took, once a fill under way has finished (it would add more). */
  async dispose(): Promise<void> {
    await this.filling.catch(() => undefined)
    for (const p of this.made) rmSync(p, { force: true })
    this.made.clear()
    this.ready = []
  }

  private pairPaths(): FifoPair {
    const base = path.join(this.dir, `.fifo-${randomBytes(6).toString('hex')}`)
    return [`${base}.out`, `${base}.err`]
  }
}

/** Makes the pairs' FIFOs, BATCH paths per process; returns the pairs that exist. */
export async function makeFifos(
  pairs: FifoPair[],
  onMade: (path: string) => void = () => undefined
): Promise<FifoPair[]> {
  const made: FifoPair[] = []
  for (let i = 0; i < pairs.length; i += BATCH / 2) {
    const batch = pairs.slice(i, i + BATCH / 2)
    const paths = batch.flat()
    try {
      await execFileAsync('mkfifo', ['-m', '600', '--', ...paths], { env: toolEnv() })
      made.push(...batch)
      paths.forEach(onMade)
    } catch {
      // mkfifo missing, or the directory refuses: remove what it made; the caller uses pipes
      for (const p of paths) rmSync(p, { force: true })
      break
    }
  }
  return made
}
