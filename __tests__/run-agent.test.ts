import { afterAll, describe, expect, it } from '@jest/globals'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { runAgent } from '../src/core/agents/run-agent.js'
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
  return { result, lines, log: path.join(dir, 'agent.log') }
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
