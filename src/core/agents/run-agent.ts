import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import { Socket, type ConnectOpts, type SocketConstructorOpts } from 'node:net'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { setTimeout as sleep } from 'node:timers/promises'
import { errorMessage } from '../util/errors.js'
import { formatBytes, isNoSpace, noSpaceAt, noSpaceNote } from '../util/no-space.js'
import { makeOpenFifos, type FifoPool, type OpenFifos } from './fifos.js'
import { subreaperAvailable, supervised } from './subreaper.js'

export interface AgentRunOptions {
  /** The repository's agent command, run as `bash -c <command>`. Trusted workflow config. */
  command: string
  cwd: string
  env: NodeJS.ProcessEnv
  /** In a directory private to the run: the output FIFOs are made next to it. */
  logFile: string
  timeoutMs: number
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs: number
  /** An environment variable unique to this run of this task: finds processes that left the group. */
  marker: { name: string; value: string }
  /** Receives each output line (already split and capped) for the job log. */
  onLine?: (line: string) => void
  signal?: AbortSignal
  maxLogBytes?: number
  maxEchoBytes?: number
  tailBytes?: number
  /** Run the agent under a child subreaper where the machine allows (default true); see subreaper.ts. */
  subreaper?: boolean
  /** Read the output through FIFOs where mkfifo works (default true); false: Node's stdio pipes. */
  fifo?: boolean
  /** FIFOs made ahead for many agents (engine); without it, this run makes its own pair. */
  fifoPool?: FifoPool
}

export interface AgentRunResult {
  exitCode: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  cancelled: boolean
  durationMs: number
  /** The last lines of the output, for reports. */
  logTail: string
  logBytes: number
  logTruncated: boolean
  /**
   * Set when the disk was full: its log could not be written (`ended`: the agent was then ended,
   * its task cannot be judged), or it failed while the filesystem of its directory had no room
   * left or its output says so. `message` says "no space left on device" and where.
   */
  noSpace?: { message: string; ended: boolean }
}

const MAX_LINE = 4096
const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff
const READ_SIZE = 64 * 1024
/** What a log keeps of its beginning when the disk fills up under it; the rest is given back. */
const LOG_HEAD_ON_FULL_DISK = 1024 * 1024

/**
 * Runs one agent and returns when it and everything it started are gone.
 *
 * - Its own process group (detached), so a timeout or cancel ends the whole tree; processes that
 *   escaped the group (setsid, daemons) are found by the marker in their environment, and on
 *   Linux by a subreaper supervisor that adopts them whatever they did to their environment.
 * - Output goes chunk by chunk to the log file (capped) and line by line to `onLine` (capped);
 *   only a fixed ring of `tailBytes` is kept, so the action's memory stays flat however much an
 *   agent prints.
 * - The output is read through two FIFOs (unlinked once open), each into one reused buffer: a
 *   pipe's 'data' events allocate a Buffer per read, and once the echo budget is spent nothing
 *   else allocates on the JS heap, so V8 seldom collects and eight flooding agents pushed the
 *   action's RSS past 150 MB on Node 24. FIFOs, not sockets, also let an agent reopen
 *   /dev/stdout (`echo x > /dev/stdout`, `tee /dev/stderr`). Without mkfifo: Node's stdio pipes
 *   (socket pairs, so no reopening), same handling.
 */
export async function runAgent(options: AgentRunOptions): Promise<AgentRunResult> {
  const started = Date.now()
  const maxLogBytes = options.maxLogBytes ?? 50 * 1024 * 1024
  const maxEchoBytes = options.maxEchoBytes ?? 1024 * 1024
  const tailBytes = options.tailBytes ?? 16 * 1024

  const fd = openLog(options.logFile)
  let logBytes = 0
  let logTruncated = false
  /** Why the log stopped being written (a write failed); the output is still read and tailed. */
  let logStopped: { message: string; noSpace: boolean } | undefined
  /** Ends the agent once it runs (set after the spawn): a full disk under its log ends it. */
  let endForNoSpace: (() => void) | undefined
  let echoed = 0
  let echoCut = false
  // A character can straddle two reads: each stream decodes through its own StringDecoder.
  const outPartial = { text: '', decoder: new StringDecoder('utf8') }
  const errPartial = { text: '', decoder: new StringDecoder('utf8') }
  const tail = new TailRing(tailBytes)
  let readers: Readable[] = []

  const echo = (raw: string): void => {
    if (!options.onLine || echoCut) return
    // The caller prefixes each line, which disarms `::command::`; the runner also honours the
    // legacy `##[command]` anywhere in a line, so that is broken up here.
    const line = raw.replace(/##\[/g, '#\u200b#[')
    echoed += line.length + 1
    if (echoed > maxEchoBytes) {
      echoCut = true
      options.onLine(`[output continues in ${options.logFile}; not shown here]`)
      return
    }
    options.onLine(line)
  }

  // One line buffer per stream, so stdout and stderr lines never splice into each other.
  // The chunk may be a view of a buffer reused for the next read: nothing here keeps it.
  const consume =
    (partial: { text: string; decoder: StringDecoder }) =>
    (chunk: Buffer): void => {
      tail.push(chunk)
      if (logStopped) {
        logTruncated = true
      } else if (logBytes < maxLogBytes) {
        const room = maxLogBytes - logBytes
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk
        if (writeLog(part) && part.length < chunk.length) {
          logTruncated = true
          writeAll(fd, Buffer.from(`\n[log truncated at ${maxLogBytes} bytes]\n`), logBytes)
        }
      } else {
        logTruncated = true
      }
      if (options.onLine && !echoCut) {
        // A bare CR ends a line for the runner too: split on it, or it would start an unprefixed one.
        // A CR that ends this read may be half of a CRLF: held back until the next one.
        const text = partial.text + partial.decoder.write(chunk)
        const held = text.endsWith('\r') ? '\r' : ''
        partial.text = (held ? text.slice(0, -1) : text).replace(/\r\n?/g, '\n')
        let newline: number
        while ((newline = partial.text.indexOf('\n')) !== -1) {
          echo(partial.text.slice(0, newline))
          partial.text = partial.text.slice(newline + 1)
        }
        while (partial.text.length > MAX_LINE) {
          // Never between the two halves of a surrogate pair (an emoji, say).
          const cut = isHighSurrogate(partial.text.charCodeAt(MAX_LINE - 1))
            ? MAX_LINE - 1
            : MAX_LINE
          echo(partial.text.slice(0, cut))
          partial.text = partial.text.slice(cut)
        }
        partial.text += held
      }
    }
  /**
   * Appends to the log; false once it cannot. A write that fails (this is called from a read
   * callback, where a throw would take the whole process down) stops the log; a full disk also
   * gives back all but the log's first MiB, which a flood may have filled, and ends the agent.
   */
  function writeLog(part: Buffer): boolean {
    try {
      logBytes += writeAll(fd, part, logBytes)
      return true
    } catch (error) {
      const noSpace = isNoSpace(error)
      logStopped = { message: errorMessage(error), noSpace }
      logTruncated = true
      if (noSpace) {
        const head = Math.min(logBytes, LOG_HEAD_ON_FULL_DISK)
        try {
          ftruncateSync(fd, head)
          logBytes = head
          const note = `\n[log cut at ${formatBytes(head)}: no space left on device; the last lines are in the report]\n`
          logBytes += writeAll(fd, Buffer.from(note), head)
          logBytes += writeAll(fd, tail.bytes(), logBytes)
        } catch {
          // nothing more can be written: what is there stays
        }
        endForNoSpace?.()
      }
      return false
    }
  }
  const onOut = consume(outPartial)
  const onErr = consume(errPartial)

  try {
    const argv = ['bash', '-c', options.command]
    const reaped = options.subreaper !== false && (await subreaperAvailable())
    const [file, ...args] = reaped ? supervised(argv, options.killGraceMs) : argv
    const pair =
      options.fifo === false
        ? undefined
        : options.fifoPool
          ? await options.fifoPool.take()
          : (await makeOpenFifos(path.dirname(options.logFile), 1))[0]
    const fifos = pair && readFifos(pair, onOut, onErr)
    if (fifos) readers = fifos.readers
    let child: ChildProcess
    try {
      child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        stdio: ['ignore', fifos?.writeFds[0] ?? 'pipe', fifos?.writeFds[1] ?? 'pipe']
      })
    } finally {
      // The agent has its own copies (or none, if the spawn failed): the readers see EOF once
      // every process holding a write end is gone.
      for (const writeFd of fifos?.writeFds ?? []) closeSync(writeFd)
    }
    if (!fifos) {
      readers = [child.stdout!, child.stderr!]
      child.stdout!.on('data', onOut)
      child.stderr!.on('data', onErr)
    }
    const streamsClosed = Promise.all(
      readers.map((reader) => {
        reader.on('error', () => {}) // 'close' follows; the exit status is what counts
        return new Promise((resolve) => reader.once('close', resolve))
      })
    )
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once('error', reject)
        child.once('exit', (code, signal) => resolve({ code, signal }))
      }
    )

    const pgid = child.pid
    let timedOut = false
    let cancelled = false
    let terminating: Promise<void> | undefined
    const terminate = (): void => {
      if (pgid !== undefined)
        terminating ??= terminateTree(pgid, options.marker, options.killGraceMs, reaped)
    }
    const timer = setTimeout(() => {
      timedOut = true
      terminate()
    }, options.timeoutMs)
    const onAbort = (): void => {
      cancelled = true
      // On cancellation the runner allows ~7.5 s before it escalates: keep the grace short.
      if (pgid !== undefined) {
        terminating ??= terminateTree(
          pgid,
          options.marker,
          Math.min(options.killGraceMs, 2000),
          reaped
        )
      }
    }
    if (options.signal?.aborted) onAbort()
    options.signal?.addEventListener('abort', onAbort, { once: true })
    let exitSeen = false
    let endedForNoSpace = false
    child.once('exit', () => (exitSeen = true))
    endForNoSpace = (): void => {
      endedForNoSpace ||= !exitSeen
      terminate()
    }
    if (logStopped?.noSpace) endForNoSpace()

    let exit: { code: number | null; signal: NodeJS.Signals | null }
    try {
      exit = await exited
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
    }
    // The agent's shell is gone; end whatever it left running (background jobs, daemons).
    if (terminating) await terminating
    else if (pgid !== undefined)
      await terminateTree(pgid, options.marker, options.killGraceMs, reaped)
    // The output streams close once every writer is dead; do not wait forever on a stray one.
    await Promise.race([streamsClosed, sleep(1000)])
    for (const reader of readers) reader.destroy()
    for (const rest of [outPartial, errPartial]) {
      // What is left holds no newline; a CR held back at its end ends the line.
      rest.text = (rest.text + rest.decoder.end()).replace(/\r$/, '')
      if (rest.text) echo(rest.text)
    }

    const logTail = tailText(tail.bytes(), tail.cut)
    let noSpace: AgentRunResult['noSpace']
    if (logStopped?.noSpace)
      noSpace = {
        message: `no space left on device for its output: the log ${options.logFile} could not be written (${logStopped.message})${endedForNoSpace ? '; the agent was ended' : ''}`,
        ended: true
      }
    else if (exit.code !== 0 && !timedOut && !cancelled) {
      const note = await noSpaceNote(options.cwd, logTail)
      if (note) noSpace = { message: note, ended: false }
    }
    return {
      exitCode: exit.code,
      signal: exit.signal,
      timedOut,
      cancelled,
      durationMs: Date.now() - started,
      logTail,
      logBytes,
      logTruncated,
      ...(noSpace ? { noSpace } : {})
    }
  } finally {
    for (const reader of readers) reader.destroy()
    closeSync(fd)
  }
}

/**
 * Wraps the read ends of an open pair in sockets that read into one reused buffer each; the
 * write ends are for the agent. Undefined (the pair closed) if Node refuses them: the caller
 * falls back to pipes.
 */
function readFifos(
  pair: OpenFifos,
  onOut: (chunk: Buffer) => void,
  onErr: (chunk: Buffer) => void
): { readers: Socket[]; writeFds: [number, number] } | undefined {
  const readers: Socket[] = []
  try {
    for (const [i, onChunk] of [onOut, onErr].entries()) {
      const buffer = Buffer.allocUnsafe(READ_SIZE)
      const onread = {
        buffer,
        callback: (nread: number): boolean => {
          onChunk(buffer.subarray(0, nread))
          return true
        }
      }
      // @types/node 20 lists `onread` for connect() only; Node (>= 20) takes it here too.
      const opts: SocketConstructorOpts & ConnectOpts = {
        fd: pair.read[i],
        readable: true,
        writable: false,
        onread
      }
      readers.push(new Socket(opts))
    }
    return { readers, writeFds: pair.write }
  } catch {
    // A socket that was made owns its descriptor; close the rest.
    for (const reader of readers) reader.destroy()
    for (const fd of [...pair.read.slice(readers.length), ...pair.write]) closeSync(fd)
    return undefined
  }
}

/** The last `size` bytes of everything pushed, in a fixed buffer: copies at most `size` per push. */
class TailRing {
  private readonly ring: Buffer
  private end = 0
  private total = 0

  constructor(private readonly size: number) {
    this.ring = Buffer.alloc(Math.max(0, size))
  }

  push(chunk: Buffer): void {
    this.total += chunk.length
    if (this.size <= 0) return
    const last = chunk.length > this.size ? chunk.subarray(chunk.length - this.size) : chunk
    const first = Math.min(last.length, this.size - this.end)
    last.copy(this.ring, this.end, 0, first)
    last.copy(this.ring, 0, first)
    this.end = (this.end + last.length) % this.size
  }

  /** Whether output was dropped before the tail (its first line may be cut). */
  get cut(): boolean {
    return this.total > this.size
  }

  bytes(): Buffer {
    if (this.total < this.size) return this.ring.subarray(0, this.total)
    return Buffer.concat([this.ring.subarray(this.end), this.ring.subarray(0, this.end)])
  }
}

/** Last lines of the captured tail, without a cut-off first line. */
function tailText(tail: Buffer, cut: boolean, maxLines = 40): string {
  let text = tail.toString('utf8')
  const firstNewline = text.indexOf('\n')
  if (cut && firstNewline !== -1) text = text.slice(firstNewline + 1)
  return text.trimEnd().split('\n').slice(-maxLines).join('\n')
}

/**
 * SIGTERM to the group and to marked strays, SIGKILL to whatever is left after the grace
 * period. Returns at once when nothing is left. With a supervisor (the group's
 * leader), SIGKILL to the group would kill it before it could end the orphans only it knows:
 * it gets SIGUSR1 instead and a moment to kill them all, and SIGKILL is the fallback.
 */
export async function terminateTree(
  pgid: number,
  marker: { name: string; value: string },
  graceMs: number,
  hasSupervisor = false
): Promise<void> {
  const alive = (): boolean => groupAlive(pgid) || markedProcesses(marker).length > 0
  const gone = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      await sleep(25)
      if (!alive()) return true
    }
    return false
  }
  if (!alive()) return
  signalAll(pgid, marker, 'SIGTERM')
  if (await gone(graceMs)) return
  if (hasSupervisor) {
    try {
      process.kill(pgid, 'SIGUSR1')
    } catch {
      // the supervisor has exited; only strays are left
    }
    if (await gone(3000)) return
  }
  for (let round = 0; round < 40 && alive(); round++) {
    signalAll(pgid, marker, 'SIGKILL')
    await sleep(25)
  }
}

function signalAll(
  pgid: number,
  marker: { name: string; value: string },
  signal: NodeJS.Signals
): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // group already empty
  }
  for (const pid of markedProcesses(marker)) {
    try {
      process.kill(pid, signal)
    } catch {
      // exited meanwhile
    }
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Processes (other than us) whose environment carries the marker. Linux only; [] elsewhere. */
export function markedProcesses(marker: { name: string; value: string }): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const needle = Buffer.from(`${marker.name}=${marker.value}\0`)
  const pids: number[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    try {
      const environ = readFileSync(`/proc/${entry}/environ`)
      if (environ.includes(needle) && !isZombie(entry)) pids.push(pid)
    } catch {
      // gone, or not ours to read
    }
  }
  return pids
}

function isZombie(pid: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z'
  } catch {
    return true
  }
}

/** Writes all of `data` at `position` (a write to a filling disk can be short); returns its length. */
function writeAll(fd: number, data: Buffer, position: number): number {
  let done = 0
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done)
  return data.length
}

function openLog(file: string): number {
  try {
    return openSync(file, 'w')
  } catch (error) {
    return noSpaceAt(`while creating the log file ${file}`)(error)
  }
}
