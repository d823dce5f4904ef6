import { jsonLines, type JsonRecord } from './output.js'
import type { AgentPreset, AgentReport } from './types.js'

/**
 * Claude Code (npm @anthropic-ai/claude-code), checked with 2.1.332 against a local stand-in of
 * the Messages API:
 * - `-p` reads the prompt from stdin; `--output-format stream-json` (which needs `--verbose` in
 *   print mode) prints one JSON event per line, so the log shows progress and ends with a
 *   `result` event carrying cost, tokens, turns and any permission denials.
 * - Without a permission mode every write is refused and the run still exits 0; `acceptEdits`
 *   allows file edits but refuses commands (`npm test`, `git commit`) unless `--allowedTools`
 *   names them, and still exits 0. `--dangerously-skip-permissions` refuses to run as root
 *   unless IS_SANDBOX=1.
 * - CLAUDE_CONFIG_DIR moves all its state (`.claude.json` included) out of HOME.
 */
export const claudeCode: AgentPreset = {
  name: 'claude-code',
  title: 'Claude Code',
  install: 'npm install -g @anthropic-ai/claude-code',
  command: (args) =>
    `claude -p --permission-mode acceptEdits --output-format stream-json --verbose${args ? ` ${args}` : ''} < "$TASK_PROMPT_FILE"`,
  key: { variables: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] },
  privateDirs: { CLAUDE_CONFIG_DIR: 'claude' },
  env: {
    CLAUDE_CODE_DISABLE_AUTO_MEMORY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1'
  },
  excludes: [],
  transient: [
    /"api_error_status":\s*(429|5\d\d)\b/,
    /API Error: (Request rejected \()?(429|5\d\d)\b/,
    /"error":"(rate_limit|overloaded)"/
  ],
  parseResult: (log) => {
    const result = jsonLines(log)
      .filter((event) => event.type === 'result')
      .at(-1)
    return result ? claudeResult(result) : undefined
  },
  notes: [
    '`acceptEdits` lets it edit files but not run commands: it reports refused `npm test` or `git commit` calls as permission denials and still exits 0. Allow what a task needs with `agent-args: --allowedTools "Bash(npm test *)" "Bash(git commit *)"`.',
    '`--dangerously-skip-permissions` (or `--permission-mode bypassPermissions`) refuses to run as root (container jobs, some self-hosted runners) unless `IS_SANDBOX=1` is set.'
  ]
}

function claudeResult(result: JsonRecord): AgentReport {
  const usage = (result.usage ?? {}) as JsonRecord
  const models = Object.keys((result.modelUsage ?? {}) as JsonRecord)
  const denials = Array.isArray(result.permission_denials)
    ? (result.permission_denials as JsonRecord[]).map((d) => {
        const input = (d.tool_input ?? {}) as JsonRecord
        const what = typeof input.command === 'string' ? input.command : input.file_path
        return typeof what === 'string' ? `${String(d.tool_name)}: ${what}` : String(d.tool_name)
      })
    : []
  return {
    ...(typeof result.result === 'string' ? { summary: result.result } : {}),
    ...(typeof result.total_cost_usd === 'number' ? { costUsd: result.total_cost_usd } : {}),
    ...(typeof usage.input_tokens === 'number'
      ? {
          inputTokens:
            usage.input_tokens +
            numberOr0(usage.cache_creation_input_tokens) +
            numberOr0(usage.cache_read_input_tokens)
        }
      : {}),
    ...(typeof usage.output_tokens === 'number' ? { outputTokens: usage.output_tokens } : {}),
    ...(models.length ? { model: models.join(', ') } : {}),
    ...(typeof result.num_turns === 'number' ? { turns: result.num_turns } : {}),
    ...(denials.length ? { permissionDenials: denials } : {})
  }
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' ? value : 0
}
