// $TASK_RESULT_FILE: the schema any agent may write, read as the untrusted input it is.
import { describe, expect, it } from '@jest/globals'
import { combineReports, readResultFile } from '../src/core/agents/result-file.js'

describe('readResultFile', () => {
  it('reads every documented field', () => {
    expect(
      readResultFile(
        JSON.stringify({
          summary: 'Added the farewell function.',
          cost_usd: 0.042,
          input_tokens: 12000,
          output_tokens: 800,
          model: 'claude-sonnet-4-5',
          turns: 6,
          extra: 'ignored'
        })
      )
    ).toEqual({
      report: {
        summary: 'Added the farewell function.',
        costUsd: 0.042,
        inputTokens: 12000,
        outputTokens: 800,
        model: 'claude-sonnet-4-5',
        turns: 6
      },
      problems: []
    })
  })

  it('drops wrong values and says which', () => {
    const { report, problems } = readResultFile(
      JSON.stringify({ summary: 5, cost_usd: -1, input_tokens: 1.5, output_tokens: '9', turns: 2 })
    )
    expect(report).toEqual({ turns: 2 })
    expect(problems).toEqual([
      'summary is not a string',
      'cost_usd is not a number of 0 or more',
      'input_tokens is not a whole number of 0 or more',
      'output_tokens is not a whole number of 0 or more'
    ])
  })

  it('keeps agent text on one printable line, cut short', () => {
    const { report } = readResultFile(
      JSON.stringify({ summary: `line one\r\n## heading\u202e\u0007\n${'x'.repeat(600)}` })
    )
    expect(report.summary).toMatch(/^line one ## heading x+…$/)
    expect(report.summary).toHaveLength(500)
  })

  it('refuses what is not a JSON object', () => {
    expect(readResultFile('[1]').problems).toEqual(['not a JSON object'])
    expect(readResultFile('{').problems[0]).toMatch(/^not JSON/)
  })
})

describe('combineReports', () => {
  it("takes the agent's own file first and the CLI's output for the rest", () => {
    expect(
      combineReports({ summary: 'mine' }, { summary: 'cli', inputTokens: 5, costUsd: 0.1 })
    ).toEqual({ summary: 'mine', inputTokens: 5, costUsd: 0.1 })
    expect(combineReports(undefined, undefined)).toBeUndefined()
  })
})
