import { jsonLines } from './output.js'
import type { AgentPreset, AgentReport } from './types.js'

/**
 * Gemini CLI (npm @google/gemini-cli), checked with 0.61.0 against a local stand-in of the
 * Gemini API (test-support/model-apis/gemini.ts): `-p ""` runs headless with the prompt from stdin; without a
 * settings file choosing API-key auth it stops at "Invalid auth method selected."; it sends the
 * key as x-goog-api-key to GOOGLE_GEMINI_BASE_URL when set; GEMINI_CLI_HOME moves its
 * `.gemini` folder; with usage statistics off it made no other connection.
 */
export const gemini: AgentPreset = {
  name: 'gemini',
  title: 'Gemini CLI',
  install: 'npm install -g @google/gemini-cli',
  command: (args) =>
    `gemini --approval-mode auto_edit --output-format stream-json --skip-trust${args ? ` ${args}` : ''} -p "" < "$TASK_PROMPT_FILE"`,
  key: { variables: ['GEMINI_API_KEY', 'GOOGLE_API_KEY'] },
  privateDirs: { GEMINI_CLI_HOME: 'gemini' },
  seedFiles: {
    'gemini/.gemini/settings.json': `${JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true }
    })}\n`
  },
  env: {},
  excludes: [],
  transient: [/\b(429|503)\b/, /RESOURCE_EXHAUSTED|UNAVAILABLE/],
  parseResult: (log) => {
    const report: AgentReport = {}
    for (const event of jsonLines(log)) {
      const stats = (event.stats ?? {}) as Record<string, unknown>
      if (event.type === 'result' && typeof stats.input_tokens === 'number')
        report.inputTokens = stats.input_tokens
      if (event.type === 'result' && typeof stats.output_tokens === 'number')
        report.outputTokens = stats.output_tokens
      const models = Object.keys((stats.models ?? {}) as object)
      if (event.type === 'result' && models.length) report.model = models.join(', ')
    }
    return Object.keys(report).length ? report : undefined
  },
  notes: [
    '`auto_edit` approves file edits only; `agent-args: --approval-mode yolo` lets it run commands too.'
  ]
}
