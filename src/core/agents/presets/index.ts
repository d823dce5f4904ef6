import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { aider } from './aider.js'
import { claudeCode } from './claude-code.js'
import { codex } from './codex.js'
import { gemini } from './gemini.js'
import type { AgentPreset } from './types.js'

export type { AgentPreset, AgentReport } from './types.js'

/** Every known agent CLI, by the name the `agent` input takes. */
export const PRESETS: ReadonlyMap<string, AgentPreset> = new Map(
  [claudeCode, codex, aider, gemini].map((preset) => [preset.name, preset])
)

/** What runs for each task, once the inputs are resolved. */
export interface AgentChoice {
  /** The bash command (agent-command, or the preset's command with agent-args). */
  command: string
  /** The preset, when one is used (agent-command not set). */
  preset?: AgentPreset
}

/**
 * Picks the command: a free-form `agent-command` wins over a preset (it may wrap the CLI in a
 * script of its own); with a preset, `agent-args` go where the CLI takes options and its key
 * must be in `env` now, so that a missing key stops the run before anything starts.
 * `flags` names the inputs (or CLI flags) in messages.
 */
export function chooseAgent(
  given: { command: string; preset: string; args: string },
  env: NodeJS.ProcessEnv,
  flags = { command: 'agent-command', preset: 'agent', args: 'agent-args' }
): AgentChoice | undefined {
  const name = given.preset.trim().toLowerCase()
  const preset = name ? PRESETS.get(name) : undefined
  if (name && !preset)
    throw new Error(
      `${flags.preset} "${given.preset.trim()}" is not a known agent; use one of ${[...PRESETS.keys()].join(', ')}, or set ${flags.command} to run any command.`
    )
  if (given.command.trim()) return { command: given.command }
  if (!preset) return undefined
  if (!preset.key.variables.some((variable) => env[variable]?.trim()))
    throw new Error(
      `${flags.preset}: ${preset.name} needs its API key in the environment: set ${preset.key.variables.join(' or ')} on the step (e.g. env: ${preset.key.variables[0]}: \${{ secrets.${preset.key.variables[0]} }}).`
    )
  return { command: preset.command(given.args.trim()), preset }
}

/**
 * The per-task part of an agent's environment for a preset: its private directories, made
 * fresh under `stateDir` (anything an earlier run left there is deleted first: on a
 * self-hosted runner, state from another run could carry planted "memories"), its fixed
 * variables, and its key under the name the CLI reads. `dispose` deletes the directory.
 */
export async function isolate(
  preset: AgentPreset,
  stateDir: string,
  env: NodeJS.ProcessEnv
): Promise<{ env: Record<string, string>; dispose: () => Promise<void> }> {
  await rm(stateDir, { recursive: true, force: true })
  const vars: Record<string, string> = { ...preset.env }
  for (const [variable, dir] of Object.entries(preset.privateDirs)) {
    vars[variable] = path.join(stateDir, dir)
    await mkdir(vars[variable], { recursive: true, mode: 0o700 })
  }
  for (const [file, text] of Object.entries(preset.seedFiles ?? {})) {
    const target = path.join(stateDir, file)
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
    await writeFile(target, text, { mode: 0o600 })
  }
  const { handAs } = preset.key
  if (handAs && !env[handAs]?.trim()) {
    const found = preset.key.variables.find((variable) => env[variable]?.trim())
    if (found) vars[handAs] = env[found]!
  }
  return { env: vars, dispose: () => rm(stateDir, { recursive: true, force: true }) }
}
