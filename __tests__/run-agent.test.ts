import { afterAll, describe, expect, it } from '@jest/globals'
import { readdirSync, readlinkSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { closeFifos, FifoPool, openFifos } from '../src/core/agents/fifos.js'
import { runAgent } from '../src/core/agents/run-agent.js'
import { subreaperAvailable } from '../src/core/agents/subreaper.js'
import { processesWithArgv } from '../test-support/processes.js'
import { removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

async function run(command: string, extra: Partial<Parameters<typeof runAgent>[0]> = {}) {
  const dir = await tempDir('agent')
  const lines: string[] = []
  const result = await runAgent({
    command,
    cwd: dir,
    env: { PATH: process.env.PATH },
    logFile: path.join(dir, 'agent.log'),
    timeoutMs: 30_000,
    killGraceMs: 300,
    marker: { name: 'AGENT_FANOUT_MARKER', value: `test-${Math.random()}` },
    onLine: (l) => lines.push(l),
    ...extra
  })
  return { result, lines, log: path.join(dir, 'agent.log'), dir }
}

/** This process's descriptors open on FIFOs made under `dir` (deleted or not). */
function fifoDescriptors(dir: string): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`)
      } catch {
        return ''
      }
    })
    .filter((target) => target.startsWith(`${dir}/`))
}

describe('runAgent', () => {
  it('streams stdout and stderr to the log file and line by line to the job log', async () => {
    const { result, lines, log } = await run('echo out; echo err >&2; printf "no newline"')
    expect(result.exitCode).toBe(0)
    expect(lines).toEqual(expect.arrayContaining(['out', 'err', 'no newline']))
    expect(await readFile(log, 'utf8')).toContain('no newline')
  })

  it('caps the log file and the job-log echo, and keeps only a tail in memory', async () => {
    // 8 MB of output, 2 MB of it on one line without a newline.
    const { result, lines, log } = await run(
      'head -c 2000000 /dev/zero | tr "\\0" a; for i in $(seq 1 60000); do echo "line $i of the flood"; done',
      { maxLogBytes: 1_000_000, maxEchoBytes: 100_000 }
    )
    expect(result.exitCode).toBe(0)
    expect(result.logTruncated).toBe(true)
    expect((await stat(log)).size).toBeLessThan(1_001_000)
    expect(await readFile(log, 'utf8')).toContain('[log truncated at 1000000 bytes]')
    expect(lines.at(-1)).toMatch(/output continues in .*agent\.log/)
    expect(lines.every((l) => l.length <= 4096)).toBe(true)
    expect(result.logTail).toContain('line 60000 of the flood')
    expect(result.logTail.length).toBeLessThanOrEqual(16 * 1024)
  })

  it('echoes multi-byte characters whole, however the reads and the line cap cut the output', async () => {
    // One 210 KB write of 3- and 4-byte characters: reads of 64 KB end inside a character.
    const { result, lines } = await run(
      `s=$(printf '€😀%.0s' $(seq 30000)); printf '%s\\n' "$s"; printf '%s\\n' "$s" >&2`,
      { maxEchoBytes: 10_000_000 }
    )
    expect(result.exitCode).toBe(0)
    // stdout's and stderr's pieces may interleave; every character must arrive whole.
    const all = lines.join('')
    expect(all.length).toBe(60000 * 3)
    expect(all.match(/€/g)).toHaveLength(60000)
    expect(all.match(/😀/gu)).toHaveLength(60000)
    for (const line of lines) {
      expect(line).not.toContain('\uFFFD')
      expect(line).not.toMatch(
        /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
      )
    }
  })

  it('treats a CRLF split across two reads as one line end, and a bare CR as one too', async () => {
    const { result, lines } = await run(
      "printf 'a\\r'; sleep 0.2; printf '\\nb\\rc\\r\\n'; sleep 0.2; printf 'd\\r'"
    )
    expect(result.exitCode).toBe(0)
    expect(lines).toEqual(['a', 'b', 'c', 'd'])
  })

  it('reports the exit status of a failing agent', async () => {
    const { result } = await run('exit 7')
    expect(result).toMatchObject({ exitCode: 7, timedOut: false })
  })

  it('ends an agent that ignores SIGTERM with SIGKILL after the grace period', async () => {
    const { result } = await run('trap "" TERM; sleep 30', { timeoutMs: 300, killGraceMs: 200 })
    expect(result.timedOut).toBe(true)
    expect(result.signal).toBe('SIGKILL')
  })

  it('is cancelled through its AbortSignal', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 200)
    const { result } = await run('sleep 30', { signal: controller.signal })
    expect(result.cancelled).toBe(true)
    expect(result.exitCode).toBeNull()
  })
})

// The output is read through FIFOs (one reused buffer per stream, see runAgent), or through
// pipes where mkfifo is missing; `fifo: false` forces the pipes.
describe('runAgent output channels', () => {
  it('reads through FIFOs next to the log file, unlinked while the agent runs, leaving nothing behind', async () => {
    const { result, lines, dir } = await run(
      'readlink /proc/$$/fd/1; readlink /proc/$$/fd/2 >&2; stat -L -c "%F %a" /proc/$$/fd/1'
    )
    expect(result.exitCode).toBe(0)
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/.*\/\.fifo-[0-9a-f]+\.out \(deleted\)$/),
        expect.stringMatching(/^\/.*\/\.fifo-[0-9a-f]+\.err \(deleted\)$/),
        'fifo 600'
      ])
    )
    expect(lines.filter((l) => l.includes('.fifo')).every((l) => l.startsWith(dir + '/'))).toBe(
      true
    )
    expect(await readdir(dir)).toEqual(['agent.log'])
  })

  it('takes its FIFOs from a pool: one mkfifo for many agents, each pair used once, no path to those waiting, the rest closed', async () => {
    const logs = await tempDir('pool')
    // A real mkfifo behind a wrapper that counts its calls; the pool finds it through PATH.
    const bin = await tempDir('bin')
    const calls = path.join(bin, 'calls')
    const real = execFileSync('sh', ['-c', 'command -v mkfifo'], { encoding: 'utf8' }).trim()
    await writeFile(
      path.join(bin, 'mkfifo'),
      `#!/bin/sh\necho "$#" >> '${calls}'\nexec '${real}' "$@"\n`,
      { mode: 0o755 }
    )
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath}`
    try {
      const pool = new FifoPool(logs)
      void pool.fill(5)
      const runs = await Promise.all(
        [1, 2, 3, 4].map((i) => run(`readlink /proc/$$/fd/1; echo agent ${i}`, { fifoPool: pool }))
      )
      for (const [i, { result, lines }] of runs.entries()) {
        expect(result.exitCode).toBe(0)
        expect(lines).toContain(`agent ${i + 1}`)
      }
      const used = runs.map(({ lines }) => lines[0])
      expect(new Set(used).size).toBe(4)
      for (const fifo of used)
        expect(fifo).toMatch(new RegExp(`^${logs}/\\.fifo-[0-9a-f]+\\.out \\(deleted\\)$`))
      // One process made all ten FIFOs (five pairs). No path leads to any of them: the pair
      // nobody took waits as four open descriptors, closed by dispose.
      expect(await readFile(calls, 'utf8')).toBe('13\n') // -m 600 -- and ten paths
      expect(await readdir(logs)).toEqual([])
      expect(fifoDescriptors(logs)).toHaveLength(4)
      await pool.dispose()
      expect(fifoDescriptors(logs)).toEqual([])
      // An empty pool makes a pair on demand.
      const extra = await run('echo more', { fifoPool: pool })
      expect(extra.lines).toEqual(['more'])
      expect(await readFile(calls, 'utf8')).toBe('13\n5\n')
      expect(await readdir(logs)).toEqual([])
      expect(fifoDescriptors(logs)).toEqual([])
    } finally {
      process.env.PATH = savedPath
    }
  })

  it('a pool disposed of while it is still filling leaves no FIFO behind', async () => {
    const logs = await tempDir('pool')
    const pool = new FifoPool(logs)
    const filling = pool.fill(50)
    await pool.dispose()
    await filling
    expect(await readdir(logs)).toEqual([])
    expect(fifoDescriptors(logs)).toEqual([])
  })

  it('opens nothing but the FIFO it made: a link to another FIFO or a file in its place is refused and removed', async () => {
    const dir = await tempDir('fifos')
    // Someone else's FIFO: followed, the agent's output would flow through it.
    const foreign = path.join(await tempDir('elsewhere'), 'foreign.fifo')
    execFileSync('mkfifo', [foreign])
    const mine = path.join(dir, 'mine.fifo')
    for (const planted of ['link', 'file']) {
      execFileSync('mkfifo', [mine])
      const other = path.join(dir, `planted-${planted}`)
      if (planted === 'link') await symlink(foreign, other)
      else await writeFile(other, 'planted\n')
      expect(openFifos([other, mine])).toBeUndefined()
      expect(openFifos([mine, other])).toBeUndefined()
      expect(await readdir(dir)).toEqual([])
      expect(fifoDescriptors(dir)).toEqual([])
    }
    expect((await stat(foreign)).isFIFO()).toBe(true)
    // A real pair opens, both ends of each the same FIFO, and leaves no path behind.
    execFileSync('mkfifo', [mine, `${mine}2`])
    const pair = openFifos([mine, `${mine}2`])!
    expect(pair.read).toHaveLength(2)
    expect(await readdir(dir)).toEqual([])
    closeFifos(pair)
  })

  // Node's stdio pipes are socket pairs, which cannot be reopened: the limit FIFOs remove.
  it("with fifo: false uses Node's stdio pipes (socket pairs), where /dev/stdout cannot be reopened", async () => {
    const { result, lines } = await run(
      'readlink /proc/$$/fd/1; readlink /proc/$$/fd/2 >&2; echo x > /dev/stdout',
      { fifo: false }
    )
    expect(result.exitCode).toBe(1)
    expect(lines.filter((l) => /^socket:\[\d+\]$/.test(l))).toHaveLength(2)
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/\/dev\/stdout: No such device or address/)])
    )
  })

  it('takes output written by reopening /dev/stdout and /dev/stderr, and through tee', async () => {
    const { result, lines, log } = await run(
      'echo x > /dev/stdout; echo y > /dev/stderr; echo z | tee /dev/stderr; echo done'
    )
    expect(result.exitCode).toBe(0)
    expect([...lines].sort()).toEqual(['done', 'x', 'y', 'z', 'z'])
    expect((await readFile(log, 'utf8')).split('\n').sort()).toEqual([
      '',
      'done',
      'x',
      'y',
      'z',
      'z'
    ])
  })

  it.each([true, false])(
    'keeps one line buffer per stream, so stdout and stderr lines never splice (fifo: %s)',
    async (fifo) => {
      // The sleeps make each printf a read of its own: a shared buffer would give "ab" and "c".
      const { result, lines } = await run(
        "printf a; sleep 0.2; printf 'b\\n' >&2; sleep 0.2; printf 'c\\n'",
        { fifo }
      )
      expect(result.exitCode).toBe(0)
      expect([...lines].sort()).toEqual(['ac', 'b'])
    }
  )

  it.each([true, false])(
    'truncates a 22 MB flood at maxLogBytes and keeps its last lines as the tail (fifo: %s)',
    async (fifo) => {
      const { result, lines, log } = await run(
        "yes 'flood line' | head -n 2000000; seq 1 50 | sed 's/^/last /'",
        { fifo, maxLogBytes: 1_000_000, maxEchoBytes: 10_000, tailBytes: 1000 }
      )
      expect(result).toMatchObject({ exitCode: 0, logBytes: 1_000_000, logTruncated: true })
      const text = await readFile(log, 'utf8')
      const note = '\n[log truncated at 1000000 bytes]\n'
      expect(text.length).toBe(1_000_000 + note.length)
      expect(text.endsWith(note)).toBe(true)
      expect(text.slice(0, 22)).toBe('flood line\nflood line\n')
      // The tail is the last 40 lines, in order, the first of them whole.
      expect(result.logTail.split('\n')).toEqual(
        Array.from({ length: 40 }, (_, i) => `last ${i + 11}`)
      )
      expect(lines.at(-1)).toMatch(/output continues in .*agent\.log/)
    }
  )

  it('leaks no file descriptor: output, failure, timeout, a spawn error, either channel', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length
    await run('true') // warm-up: the subreaper probe and lazily opened handles
    const before = openFds()
    for (const fifo of [true, false]) {
      await run('seq 1 1000; echo err >&2', { fifo })
      expect((await run('echo failing >&2; exit 3', { fifo })).result.exitCode).toBe(3)
      expect((await run('sleep 30', { fifo, timeoutMs: 200 })).result.timedOut).toBe(true)
      await expect(run('true', { fifo, cwd: '/nonexistent/agent-fanout' })).rejects.toThrow(
        /ENOENT/
      )
    }
    expect(openFds()).toBe(before)
  })
})

// A daemon that leaves the agent's process group and clears its environment escapes both the
// group signal and the marker; only the subreaper supervisor finds it.
describe('runAgent with the subreaper supervisor (Linux, perl)', () => {
  const daemon = (seconds: number) => ['sleep', String(seconds)]
  const killAll = (argv: string[]) => {
    for (const pid of processesWithArgv(argv)) process.kill(pid, 'SIGKILL')
  }

  it('is available on this machine (the tests below would prove nothing otherwise)', async () => {
    expect(await subreaperAvailable()).toBe(process.platform === 'linux')
  })

  it('ends a setsid env -i daemon, and one started by a grandchild that exited, when the agent exits', async () => {
    try {
      const { result } = await run(
        '(setsid env -i sleep 331 >/dev/null 2>&1 &); ' +
          '(sh -c "setsid -f env -i sleep 331 </dev/null >/dev/null 2>&1" &); sleep 0.5; exit 4'
      )
      expect(result.exitCode).toBe(4)
      expect(processesWithArgv(daemon(331))).toEqual([])
    } finally {
      killAll(daemon(331))
    }
  })

  it('without it such a daemon outlives the agent (the limit the supervisor removes)', async () => {
    try {
      const { result } = await run('(setsid env -i sleep 332 >/dev/null 2>&1 &); sleep 0.5', {
        subreaper: false
      })
      expect(result.exitCode).toBe(0)
      expect(processesWithArgv(daemon(332))).toHaveLength(1)
    } finally {
      killAll(daemon(332))
    }
  })

  it('kills a daemon that ignores SIGTERM after the grace period, and a timed-out agent with it', async () => {
    try {
      const { result } = await run(
        `(setsid env -i bash -c 'trap "" TERM; sleep 333; :' >/dev/null 2>&1 &); trap "" TERM; sleep 30`,
        { timeoutMs: 500, killGraceMs: 300 }
      )
      expect(result.timedOut).toBe(true)
      expect(result.signal).toBe('SIGKILL')
      expect(processesWithArgv(daemon(333))).toEqual([])
    } finally {
      killAll(daemon(333))
    }
  })

  it('passes the environment through unchanged and reports a death by signal as such', async () => {
    const { result, lines } = await run('env | sort; kill -SEGV $$', {
      env: { PATH: process.env.PATH, ONLY: 'this' }
    })
    expect(result.signal).toBe('SIGSEGV')
    expect(lines.filter((l) => /^[A-Z_]+=/.test(l)).sort()).toEqual(
      expect.arrayContaining([`PATH=${process.env.PATH}`, 'ONLY=this'])
    )
    // bash adds PWD, SHLVL and _ of its own; nothing else may appear.
    const names = lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=')[0])
    expect(names.filter((n) => !['PATH', 'ONLY', 'PWD', 'SHLVL', '_'].includes(n))).toEqual([])
  })
})
