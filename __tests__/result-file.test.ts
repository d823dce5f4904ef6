// $TASK_RESULT_FILE: the schema any agent may write, read as the untrusted input it is.
import { afterAll, describe, expect, it } from '@jest/globals'
import { symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PRESETS } from '../src/core/agents/presets/index.js'
import {
  combineReports,
  MAX_RESULT_FILE_BYTES,
  readAgentReport,
  readResultFile
} from '../src/core/agents/result-file.js'
import { Git } from '../src/core/git/git.js'
import {
  checkedExtras,
  parseReportObject,
  readReport,
  type TaskReport
} from '../src/core/results.js'
import {
  cloneWorkspace,
  createOrigin,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

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
  it("takes the CLI's figures over the file's (the model can write the file), the file's summary over the CLI's", () => {
    expect(
      combineReports(
        { summary: 'mine', costUsd: 0, turns: 9 },
        { summary: 'cli', inputTokens: 5, costUsd: 0.1 }
      )
    ).toEqual({ summary: 'mine', inputTokens: 5, costUsd: 0.1, turns: 9 })
    expect(combineReports(undefined, undefined)).toBeUndefined()
  })

  it("puts the CLI's own summary on one line too", () => {
    expect(combineReports(undefined, { summary: '## Done\n\n- wrote a file\u202e' })).toEqual({
      summary: '## Done - wrote a file'
    })
  })
})

describe('readAgentReport', () => {
  it('reads the file an agent wrote next to what its CLI printed', async () => {
    const dir = await tempDir('result-file')
    const resultFile = path.join(dir, 'T1.json')
    const logFile = path.join(dir, 'T1.log')
    await writeFile(resultFile, JSON.stringify({ summary: 'wrote it', cost_usd: 0 }))
    await writeFile(
      logFile,
      'progress\n{"type":"result","total_cost_usd":0.25,"result":"cli words"}\n'
    )
    const preset = PRESETS.get('claude-code')!
    expect(await readAgentReport({ resultFile, logFile, preset })).toEqual({
      report: { summary: 'wrote it', costUsd: 0.25 },
      problems: []
    })
    // A free-form command: the file alone.
    expect(await readAgentReport({ resultFile, logFile })).toEqual({
      report: { summary: 'wrote it', costUsd: 0 },
      problems: []
    })
  })

  it('is quiet when there is no file, and refuses links and oversized files', async () => {
    const dir = await tempDir('result-file')
    const logFile = path.join(dir, 'T1.log')
    await writeFile(logFile, '')
    expect(await readAgentReport({ resultFile: path.join(dir, 'none.json'), logFile })).toEqual({
      problems: []
    })
    const secret = path.join(dir, 'secret.json')
    await writeFile(secret, '{"summary":"from elsewhere"}')
    await symlink(secret, path.join(dir, 'link.json'))
    const linked = await readAgentReport({ resultFile: path.join(dir, 'link.json'), logFile })
    expect(linked.report).toBeUndefined()
    expect(linked.problems[0]).toMatch(/could not be opened/)
    await writeFile(path.join(dir, 'big.json'), 'x'.repeat(MAX_RESULT_FILE_BYTES + 1))
    const big = await readAgentReport({ resultFile: path.join(dir, 'big.json'), logFile })
    expect(big.problems[0]).toMatch(/more than the 65536 read/)
  })
})

describe("a matrix task job's report, read by the merge job (checkedExtras)", () => {
  const base: TaskReport = {
    version: 1,
    plan: 'p',
    task: 'T1',
    hash: 'h',
    status: 'ready',
    changedFiles: [],
    durationMs: 1
  }

  it('keeps what is well formed and drops or cleans what is not, as for the result file', () => {
    const read = checkedExtras({
      ...base,
      agentReport: {
        summary: 'Did it.\n\n# Heading\u202e',
        costUsd: Number.NaN,
        inputTokens: -3,
        outputTokens: 50,
        model: 7,
        turns: 2,
        permissionDenials: ['Bash(npm test)\nsecond line', 42]
      } as unknown as TaskReport['agentReport'],
      tries: [
        { attempt: 1, outcome: 'rate limited\n## by the API' },
        { attempt: 0, outcome: 'not an attempt' },
        { attempt: 2, outcome: 3 },
        'junk'
      ] as unknown as TaskReport['tries']
    })
    expect(read.agentReport).toEqual({
      summary: 'Did it. # Heading',
      outputTokens: 50,
      turns: 2,
      permissionDenials: ['Bash(npm test) second line']
    })
    expect(read.tries).toEqual([{ attempt: 1, outcome: 'rate limited ## by the API' }])
  })

  it('leaves nothing behind when nothing is usable', () => {
    const read = checkedExtras({
      ...base,
      agentReport: 'lots' as unknown as TaskReport['agentReport'],
      tries: {} as unknown as TaskReport['tries']
    })
    expect(read).toEqual(base)
  })
})

describe('a task report read back (matrix notes, secure-mode artifacts)', () => {
  it('takes only JSON objects: null, lists and strings are not reports, and do not throw', async () => {
    expect(parseReportObject('null')).toBeUndefined()
    expect(parseReportObject('[1]')).toBeUndefined()
    expect(parseReportObject('"ready"')).toBeUndefined()
    expect(parseReportObject('{"task": "T1"')).toBeUndefined()
    expect(parseReportObject('{"task": "T1"}')).toEqual({ task: 'T1' })

    // A notes commit whose only file holds `null`, as a task job could leave it: no report.
    const origin = await createOrigin({ 'README.md': '# x\n' })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const g = new Git(repo, {
      env: isolatedGitEnv(origin.home),
      identity: { name: 'T', email: 't@example.test' }
    })
    const blob = await g.out(['hash-object', '-w', '--stdin'], { stdin: 'null\n' })
    const tree = await g.out(['mktree'], { stdin: `100644 blob ${blob}\t${'a'.repeat(40)}\n` })
    const commit = await g.out(['commit-tree', tree, '-m', 'forged'])
    await expect(readReport(g, commit, 'T1')).resolves.toBeUndefined()
  })
})
