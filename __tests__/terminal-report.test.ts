// The CLI's report (core/report/terminal.ts): plain text for a terminal, built from the same
// results as the markdown reports, with local commands to go on and nothing a terminal obeys.
import { describe, expect, it } from '@jest/globals'
import { renderTerminalReport, terminalBlock, terminalLine } from '../src/core/report/terminal.js'
import type { FanoutResult, TaskResult } from '../src/core/types.js'

const task = (id: string, status: TaskResult['status'], extra: Partial<TaskResult> = {}) =>
  ({
    id,
    title: `Task ${id}`,
    status,
    branch: `fanout/issue-4/${id}`,
    changedFiles: ['a.txt'],
    durationMs: 12_000,
    ...extra
  }) as TaskResult

const result = (tasks: TaskResult[], extra: Partial<FanoutResult> = {}): FanoutResult => ({
  baseBranch: 'main',
  baseSha: 'a'.repeat(40),
  integrationBranch: 'fanout/issue-4/integration',
  integrationSha: 'b'.repeat(40),
  tasks,
  ...extra
})

const commands = {
  retry: (id: string) => `agent-fanout retry ${id} --issue-file t.md --agent x`,
  drop: (id: string) => `agent-fanout drop ${id} --issue-file t.md --agent x`
}

describe('renderTerminalReport', () => {
  const conflicted = task('T2', 'conflicted', {
    conflict: {
      files: ['a.txt'],
      hunks: [{ file: 'a.txt', text: '<<<<<<< ours\none\n=======\ntwo\n>>>>>>> theirs' }],
      messages: ['CONFLICT (content): Merge conflict in a.txt'],
      withTasks: [{ id: 'T1', branch: 'fanout/issue-4/T1' }]
    },
    attempts: [{ strategy: 'rerun', outcome: 'still conflicts' }]
  })
  const failed = task('T3', 'failed', {
    reason: 'agent exited with status 5',
    logTail: 'working\nbroke\n',
    logFile: '/tmp/w/logs/T3.log'
  })
  const text = renderTerminalReport(
    result([task('T1', 'merged'), conflicted, failed], {
      verify: {
        mode: 'final',
        command: 'npm test',
        ok: false,
        tail: '1 failing',
        exitCode: 1,
        durationMs: 5
      }
    }),
    { commands }
  )

  it('is plain text: no markdown table, heading, HTML or code fence', () => {
    expect(text).not.toMatch(/^\s*\|.*\|\s*$/m)
    expect(text).not.toMatch(/^#{1,6} /m)
    expect(text).not.toMatch(/<\/?(details|summary|sub|br)\b/)
    expect(text).not.toContain('```')
    expect(text).not.toContain('**')
    expect(text.split('\n')[0]).toBe('agent-fanout: 1 merged, 1 conflicted, 1 failed')
    expect(text).toMatch(/^ {2}T1 +✓ merged +12s +1 file +Task T1$/m)
    expect(text).toMatch(/^ {2}T2 +! conflicted +12s +1 file +Task T2$/m)
  })

  it('says how to go on with local commands: git on local branches, retry and drop, never the workflow or origin', () => {
    expect(text).toContain('git switch fanout/issue-4/integration && git merge fanout/issue-4/T2')
    expect(text).toContain('agent-fanout retry T2 --issue-file t.md --agent x')
    expect(text).toContain('agent-fanout drop T2 --issue-file t.md --agent x')
    expect(text).toContain('Run it again: agent-fanout retry T3 --issue-file t.md --agent x')
    expect(text).toContain('Full log: /tmp/w/logs/T3.log')
    expect(text).toContain('    │ CONFLICT (content): Merge conflict in a.txt')
    expect(text).toContain('  Collides with: T1 (fanout/issue-4/T1), already merged')
    expect(text).toContain('  Tried rerun: still conflicts')
    expect(text).toContain('Verify (final): npm test fails on the integration branch (exit 1):')
    expect(text).not.toMatch(/git fetch|origin\/|workflow|pull request|comment/i)
  })

  it('keeps escape sequences and control characters from agents and the issue off the terminal', () => {
    const evil =
      '\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b[31mred\x9b1mX\x07\x08\u202eabc'
    const out = renderTerminalReport(
      result(
        [
          task('T1', 'failed', {
            title: `title ${evil}`,
            reason: `reason ${evil}`,
            logTail: `line one ${evil}\rprogress 50%\rprogress 100%\n`
          })
        ],
        { warnings: [`warn ${evil}`] }
      )
    )
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/)
    expect(out).toContain('Why: reason click redX')
    expect(out).toContain('title click redX')
    expect(out).toContain('    │ progress 100%')
  })

  it('takes a merged result to the base branch; a detached base gets a plain merge', () => {
    expect(text).toContain('git switch main && git merge fanout/issue-4/integration')
    const detached = renderTerminalReport(result([task('T1', 'merged')], { baseBranch: 'HEAD' }))
    expect(detached).toContain('take it:          git merge fanout/issue-4/integration')
    expect(detached).not.toContain('git switch HEAD')
  })

  it("shows each task's reported cost and tokens, and the run's total, as the markdown report does", () => {
    const out = renderTerminalReport(
      result([
        task('T1', 'merged', {
          agentReport: { costUsd: 0.0123, inputTokens: 12_000, outputTokens: 800 },
          tries: [{ attempt: 1, outcome: 'merged' }]
        }),
        task('T2', 'failed', {
          reason: 'agent exited with status 1',
          agentReport: { inputTokens: 500, summary: 'gave up' },
          tries: [{ attempt: 1, outcome: 'failed' }]
        }),
        task('T3', 'skipped', { reason: 'T2 failed', changedFiles: [] })
      ])
    )
    expect(out).toMatch(
      /^ {2}T1 +✓ merged +12s +1 file +\$0\.0123 +12,000 in \/ 800 out +Task T1$/m
    )
    // A task that reported no cost shows a dash; tokens it did not report a question mark.
    expect(out).toMatch(/^ {2}T2 +✗ failed +12s +1 file +– +500 in \/ \? out +Task T2$/m)
    expect(out).toMatch(/^ {2}T3 +- skipped +12s +0 files +– +– +Task T3$/m)
    expect(out).toContain(
      "Agents' reported cost: $0.0123 (1 of 2 tasks reported one) · tokens: 12,500 in / 800 out."
    )
  })

  it('names the tasks each one builds on, after its title', () => {
    const out = renderTerminalReport(
      result([
        task('T1', 'merged'),
        task('T2', 'merged', { dependsOn: ['T1'] }),
        task('T3', 'skipped', { dependsOn: ['T1', 'T2\u001b[31m'], reason: 'T2 failed' })
      ])
    )
    expect(out).toMatch(/^ {2}T1 +✓ merged +12s +1 file +Task T1$/m)
    expect(out).toMatch(/^ {2}T2 +✓ merged +12s +1 file +Task T2 \(after T1\)$/m)
    expect(out).toMatch(/^ {2}T3 +- skipped +12s +1 file +Task T3 \(after T1, T2\)$/m)
  })

  it('keeps the table as it was when no agent reported figures', () => {
    const out = renderTerminalReport(result([task('T1', 'merged')]))
    expect(out).toMatch(/^ {2}T1 +✓ merged +12s +1 file +Task T1$/m)
    expect(out).not.toContain('reported cost')
    expect(out).not.toContain('tokens')
  })
})

describe('terminalLine and terminalBlock', () => {
  it('leave ordinary text alone', () => {
    expect(terminalLine('Add the endpoint (after T1) — ü')).toBe('Add the endpoint (after T1) — ü')
    expect(terminalBlock('a\n  b\n')).toBe('a\n  b\n')
  })
})
