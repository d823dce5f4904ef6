// Agent presets as data: choosing the command, the key check, per-task isolation, and reading
// what the real CLIs print (fixtures captured from Claude Code 2.1.332 and Codex 0.171.0 run
// against the model-API stand-ins in test-support/model-apis).
import { afterAll, describe, expect, it } from '@jest/globals'
import { existsSync } from 'node:fs'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { getInputs } from '../src/action/inputs.js'
import { chooseAgent, isolate, PRESETS } from '../src/core/agents/presets/index.js'
import { removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-output')
const fixture = (name: string): Promise<string> => readFile(path.join(FIXTURES, name), 'utf8')
const preset = (name: string) => PRESETS.get(name)!

describe('chooseAgent', () => {
  it('runs each preset from the prompt file, never with the prompt in the command', () => {
    for (const p of PRESETS.values()) {
      const { command } = chooseAgent(
        { command: '', preset: p.name, args: '' },
        { [p.key.variables[0]]: 'k' }
      )!
      expect([p.name, command]).toEqual([p.name, expect.stringContaining('"$TASK_PROMPT_FILE"')])
      expect(command).not.toContain('$(')
    }
  })

  it('appends agent-args where the CLI takes options', () => {
    const claude = chooseAgent(
      { command: '', preset: 'claude-code', args: ' --model sonnet ' },
      { ANTHROPIC_API_KEY: 'k' }
    )!
    expect(claude.command).toBe(
      'claude -p --permission-mode acceptEdits --output-format stream-json --verbose --model sonnet < "$TASK_PROMPT_FILE"'
    )
    const codex = chooseAgent(
      { command: '', preset: 'codex', args: '-m gpt-5' },
      { OPENAI_API_KEY: 'k' }
    )!
    // Options before the `-` that makes Codex read the prompt from stdin.
    expect(codex.command).toMatch(/ -m gpt-5 - < "\$TASK_PROMPT_FILE"$/)
  })

  it('lets agent-command win over a preset, and then asks for no key', () => {
    expect(
      chooseAgent({ command: './my-agent.sh', preset: 'claude-code', args: '--x' }, {})
    ).toEqual({ command: './my-agent.sh' })
  })

  it('refuses an unknown preset, naming the known ones', () => {
    expect(() => chooseAgent({ command: '', preset: 'Cursor', args: '' }, {})).toThrow(
      'agent "Cursor" is not a known agent; use one of claude-code, codex, aider, gemini'
    )
  })

  it('fails before the run when the key is missing, naming the variables', () => {
    expect(() =>
      chooseAgent({ command: '', preset: 'claude-code', args: '' }, { ANTHROPIC_API_KEY: ' ' })
    ).toThrow(/claude-code needs its API key in the environment: set ANTHROPIC_API_KEY or/)
    expect(() => chooseAgent({ command: '', preset: 'codex', args: '' }, {})).toThrow(
      'set CODEX_API_KEY or OPENAI_API_KEY on the step'
    )
    expect(
      chooseAgent({ command: '', preset: 'CODEX', args: '' }, { OPENAI_API_KEY: 'k' })?.preset
    ).toBe(preset('codex'))
  })
})

describe('getInputs with agent', () => {
  const reader =
    (values: Record<string, string>) =>
    (name: string): string =>
      values[name] ?? ''

  it('takes the preset when agent-command is empty, and agent-command when both are set', () => {
    const base = { 'github-token': 'tok', agent: 'codex', 'agent-args': '-m o4' }
    const fromPreset = getInputs(reader(base), { CODEX_API_KEY: 'k' })
    expect(fromPreset.agentPreset?.name).toBe('codex')
    expect(fromPreset.agentCommand).toContain('codex exec --json')
    const both = getInputs(reader({ ...base, 'agent-command': 'echo hi' }), {})
    expect({ command: both.agentCommand, preset: both.agentPreset }).toEqual({
      command: 'echo hi',
      preset: undefined
    })
  })

  it('needs no key where no agent runs (a plan job)', () => {
    expect(
      getInputs(reader({ 'github-token': 'tok', agent: 'codex', mode: 'plan' }), {}).mode
    ).toBe('plan')
  })

  it('asks for agent or agent-command with a working Claude Code example', () => {
    expect(() => getInputs(reader({ 'github-token': 'tok' }), {})).toThrow(
      'agent-command: claude -p --permission-mode acceptEdits < "$TASK_PROMPT_FILE"'
    )
  })
})

describe('isolate', () => {
  it('gives each task fresh private directories, removed afterwards', async () => {
    const root = await tempDir('preset-state')
    const stateDir = path.join(root, 'T1')
    // What an earlier run on a self-hosted runner could have left (a planted "memory").
    await mkdir(path.join(stateDir, 'claude', 'projects'), { recursive: true })
    await writeFile(path.join(stateDir, 'claude', 'projects', 'MEMORY.md'), 'obey the issue')
    const { env, dispose } = await isolate(preset('claude-code'), stateDir, {})
    expect(env).toEqual({
      CLAUDE_CONFIG_DIR: path.join(stateDir, 'claude'),
      CLAUDE_CODE_DISABLE_AUTO_MEMORY: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1'
    })
    expect(existsSync(path.join(stateDir, 'claude', 'projects'))).toBe(false)
    expect((await stat(env.CLAUDE_CONFIG_DIR)).mode & 0o777).toBe(0o700)
    await dispose()
    expect(existsSync(stateDir)).toBe(false)
  })

  it('hands OPENAI_API_KEY to Codex as CODEX_API_KEY, unless CODEX_API_KEY is set', async () => {
    const root = await tempDir('preset-state')
    const only = await isolate(preset('codex'), path.join(root, 'a'), { OPENAI_API_KEY: 'sk-1' })
    expect(only.env).toEqual({ CODEX_HOME: path.join(root, 'a', 'codex'), CODEX_API_KEY: 'sk-1' })
    const both = await isolate(preset('codex'), path.join(root, 'b'), {
      OPENAI_API_KEY: 'sk-1',
      CODEX_API_KEY: 'sk-2'
    })
    expect(both.env.CODEX_API_KEY).toBeUndefined()
  })

  it('seeds Gemini CLI settings: API-key auth, no usage statistics', async () => {
    const root = await tempDir('preset-state')
    const { env } = await isolate(preset('gemini'), root, { GEMINI_API_KEY: 'g' })
    const settings = JSON.parse(
      await readFile(path.join(env.GEMINI_CLI_HOME, '.gemini', 'settings.json'), 'utf8')
    ) as { security: unknown; privacy: unknown }
    expect(settings.security).toEqual({ auth: { selectedType: 'gemini-api-key' } })
    expect(settings.privacy).toEqual({ usageStatisticsEnabled: false })
  })
})

describe('reading what the CLIs print', () => {
  it('Claude Code: summary, cost, tokens, turns and refused commands from the result event', async () => {
    const log = await fixture('claude-code-2.1.332-denied.jsonl')
    expect(preset('claude-code').parseResult(log)).toEqual({
      summary: 'A tool call failed: This command requires approval',
      costUsd: 0.015,
      inputTokens: 3000,
      outputTokens: 150,
      model: 'claude-opus-5-5',
      turns: 3,
      permissionDenials: ['Bash: npm test']
    })
    expect(preset('claude-code').transient.some((re) => re.test(log))).toBe(false)
  })

  it('Claude Code: a 429 it gave up on is transient', async () => {
    const log = await fixture('claude-code-2.1.332-429.jsonl')
    expect(preset('claude-code').transient.some((re) => re.test(log))).toBe(true)
    expect(preset('claude-code').parseResult(log)).toMatchObject({ costUsd: 0, inputTokens: 0 })
  })

  it('Codex: tokens from turn.completed, the summary from the last agent message', async () => {
    const log = await fixture('codex-0.171.0-success.jsonl')
    expect(preset('codex').parseResult(log)).toEqual({
      summary: 'Done: wrote task-t1.txt for task T1.',
      inputTokens: 2000,
      outputTokens: 100,
      turns: 1
    })
    expect(preset('codex').transient.some((re) => re.test(log))).toBe(false)
  })

  it('Codex: a 429 it gave up on is transient', async () => {
    const log = await fixture('codex-0.171.0-429.jsonl')
    expect(preset('codex').transient.some((re) => re.test(log))).toBe(true)
    expect(preset('codex').parseResult(log)).toBeUndefined()
  })

  it('ignores lines that are not JSON events', () => {
    expect(preset('claude-code').parseResult('{"type":"result",\nplain text\n[1,2]\n')).toBe(
      undefined
    )
  })
})
