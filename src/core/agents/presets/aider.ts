import type { AgentPreset } from './types.js'

/**
 * aider (pip aider-chat). Documented, not run by the tests here (it is no npm package):
 * `--message-file` runs one request non-interactively and exits; `--yes-always` answers its
 * questions. It keeps history files (`.aider*`) in the working directory and by default adds
 * `.aider*` to .gitignore and commits on its own: `--no-gitignore` and `--no-auto-commits` leave
 * committing to agent-fanout, and the task's commit never takes `.aider*` files.
 */
export const aider: AgentPreset = {
  name: 'aider',
  title: 'aider',
  install: 'pipx install aider-chat',
  command: (args) =>
    `aider --yes-always --no-auto-commits --no-gitignore --no-check-update --analytics-disable --no-show-release-notes --no-pretty${args ? ` ${args}` : ''} --message-file "$TASK_PROMPT_FILE"`,
  key: {
    variables: [
      'ANTHROPIC_API_KEY',
      'OPENAI_API_KEY',
      'GEMINI_API_KEY',
      'OPENROUTER_API_KEY',
      'DEEPSEEK_API_KEY'
    ]
  },
  privateDirs: {},
  env: {},
  excludes: ['.aider*'],
  transient: [
    /RateLimitError/,
    /\b(429|529)\b.*(rate|overload)/i,
    /InternalServerError|APIConnectionError/
  ],
  parseResult: () => undefined,
  notes: [
    'Pick the model with `agent-args: --model ...`; the key variable is the one for that model’s provider.'
  ]
}
