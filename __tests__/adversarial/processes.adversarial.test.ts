// Reliability guide §7, agents as processes: one that ignores SIGTERM and hangs (#27), one that
// daemonises (#28), and one that floods its output (#31).
import { describe, expect, it } from '@jest/globals'
import {
  INTEGRATION,
  act,
  processesWithArgv,
  showOnOrigin,
  statusComments,
  statuses,
  tasksOutput,
  useCleanup,
  world
} from './support.js'

useCleanup()

describe('#27 an agent that ignores SIGTERM and hangs', () => {
  it('#27 is ended at task-timeout-minutes, reported as timed out, and the other tasks merge', async () => {
    const w = await world('- [ ] Hangs\n- [ ] Works\n- [ ] Works too\n')
    const agent = [
      'if [ "$TASK_ID" = T1 ]; then',
      "  trap '' TERM",
      '  sleep 271 &',
      '  sleep 271',
      'fi',
      'echo "$TASK_ID" > "$TASK_ID.txt"'
    ].join('\n')
    const started = Date.now()
    const r = await act(w, agent, { inputs: { 'task-timeout-minutes': '0.02' } })
    expect(r.timedOut).toBe(false)
    expect(Date.now() - started).toBeLessThan(60000)
    expect(r.exitCode).toBe(1)
    expect(statuses(r)).toEqual([
      ['T1', 'failed'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    expect(tasksOutput(r)[0].reason).toMatch(/timed out/)
    expect(r.errors.join('\n')).toMatch(/T1 failed/)
    expect(statusComments(w)[0].body).toMatch(/T1[^\n]*\n+\*\*Why:\*\* timed out/)
    expect(await showOnOrigin(w, INTEGRATION, 'T3.txt')).toBe('T3')
    expect(processesWithArgv(['sleep', '271'])).toEqual([])
  })
})

describe('#28 an agent that daemonises', () => {
  it('#28 a setsid nohup daemon holding the output pipe is gone when the run ends, and the run does not hang', async () => {
    const w = await world('- [ ] Start a server\n- [ ] Plain\n')
    const agent = [
      'if [ "$TASK_ID" = T1 ]; then',
      '  setsid nohup sleep 313 &',
      '  (setsid sleep 313 >/dev/null 2>&1 &)',
      '  sleep 1',
      'fi',
      'echo "$TASK_ID" > "$TASK_ID.txt"'
    ].join('\n')
    const started = Date.now()
    const r = await act(w, agent)
    expect(r.timedOut).toBe(false)
    expect(Date.now() - started).toBeLessThan(60000)
    expect(r.exitCode).toBe(0)
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    expect(processesWithArgv(['sleep', '313'])).toEqual([])
  })

  // The group signal and the marker variable both miss a daemon that leaves the group AND clears
  // its environment; the subreaper supervisor (Linux) adopts it when its parent exits.
  it('#28 a daemon that starts with a cleared environment (setsid env -i) is gone too', async () => {
    const w = await world('- [ ] Start a clean-env server\n')
    try {
      // The agent goes on working for a moment, as it would after starting a dev server.
      const r = await act(w, '(setsid env -i sleep 317 >/dev/null 2>&1 &); sleep 1; echo x > x.txt')
      expect(r.exitCode).toBe(0)
      expect(processesWithArgv(['sleep', '317'])).toEqual([])
    } finally {
      for (const pid of processesWithArgv(['sleep', '317'])) process.kill(pid, 'SIGKILL')
    }
  })
})

describe('#31 output flood', () => {
  it('#31 55 MB of lines and a 5 MB line without newline: the run finishes, the step log is capped, the comment fits', async () => {
    const w = await world('- [ ] Floods lines and fails\n- [ ] Floods one line\n- [ ] Quiet\n')
    const agent = [
      'case "$TASK_ID" in',
      '  T1) yes "$(printf "%099d" 0)" | head -c 55000000; echo "last words of T1"; exit 3 ;;',
      "  T2) head -c 5000000 /dev/zero | tr '\\0' b ;;",
      'esac',
      'echo "$TASK_ID" > "$TASK_ID.txt"'
    ].join('\n')
    const started = Date.now()
    const r = await act(w, agent)
    expect(r.timedOut).toBe(false)
    expect(Date.now() - started).toBeLessThan(60000)
    expect(r.exitCode).toBe(1)
    expect(statuses(r)).toEqual([
      ['T1', 'failed'],
      ['T2', 'merged'],
      ['T3', 'merged']
    ])
    // The job log gets a capped echo per agent, not 60 MB.
    expect(Buffer.byteLength(r.stdout)).toBeLessThan(4 * 1024 * 1024)
    expect(r.stdout).toMatch(/\[T1\] \[output continues in .*; not shown here\]/)
    const comment = statusComments(w)[0].body
    expect(Array.from(comment).length).toBeLessThan(65536)
    expect(comment).toContain('last words of T1')
    expect(comment).toContain('| T3 |')
  })
})
