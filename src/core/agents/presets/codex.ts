import { jsonLines } from './output.js'
import type { AgentPreset, AgentReport } from './types.js'

/**
 * Codex CLI (npm @openai/codex), checked with 0.171.0 against a local stand-in of the Responses
 * API:
 * - `codex exec ... -` reads the prompt from stdin; `--json` prints one event per line, with
 *   token use in each `turn.completed` event (no cost: Codex does not price its calls).
 * - The key must be in CODEX_API_KEY: with only OPENAI_API_KEY set, `codex exec` sends its
 *   requests without an Authorization header. The preset hands OPENAI_API_KEY in as
 *   CODEX_API_KEY when that is all the workflow sets.
 * - CODEX_HOME holds all its state (sqlite databases, skills, sessions); a private one per task
 *   means no shared database or skills folder. `--disable plugins` and
 *   `analytics.enabled=false` stop its calls to github.com and chatgpt.com.
 * - `--sandbox workspace-write` runs commands under bubblewrap: no network, and on ubuntu-24.04
 *   runners it needs user namespaces that AppArmor restricts (see the README).
 */
export const codex: AgentPreset = {
  name: 'codex',
  title: 'Codex CLI',
  install: 'npm install -g @openai/codex',
  command: (args) =>
    `codex exec --json --sandbox workspace-write --ephemeral --disable plugins -c analytics.enabled=false${args ? ` ${args}` : ''} - < "$TASK_PROMPT_FILE"`,
  key: { variables: ['CODEX_API_KEY', 'OPENAI_API_KEY'], handAs: 'CODEX_API_KEY' },
  privateDirs: { CODEX_HOME: 'codex' },
  env: {},
  excludes: [],
  transient: [
    /last status: (429|5\d\d)\b/,
    /\b429 Too Many Requests\b/,
    /\brate.?limit/i,
    /\bstream disconnected before completion\b/
  ],
  parseResult: (log) => {
    const events = jsonLines(log)
    const report: AgentReport = {}
    let turns = 0
    for (const event of events) {
      if (event.type === 'turn.completed') {
        turns++
        const usage = (event.usage ?? {}) as Record<string, unknown>
        if (typeof usage.input_tokens === 'number')
          report.inputTokens = (report.inputTokens ?? 0) + usage.input_tokens
        if (typeof usage.output_tokens === 'number')
          report.outputTokens = (report.outputTokens ?? 0) + usage.output_tokens
      }
      const item = (event.item ?? {}) as Record<string, unknown>
      if (
        event.type === 'item.completed' &&
        item.type === 'agent_message' &&
        typeof item.text === 'string'
      )
        report.summary = item.text
    }
    if (turns) report.turns = turns
    return Object.keys(report).length ? report : undefined
  },
  notes: [
    'The key must reach Codex as `CODEX_API_KEY`; the preset passes `OPENAI_API_KEY` on under that name when it is the only one set.',
    '`--sandbox workspace-write` runs commands under bubblewrap, without network. GitHub-hosted ubuntu-24.04 runners restrict unprivileged user namespaces through AppArmor, so every sandboxed command fails (`bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted`) unless a step first runs `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`.'
  ]
}
