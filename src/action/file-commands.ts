import { readFile, writeFile } from 'node:fs/promises'
import type { Logger } from '../core/types.js'

const FILE_COMMANDS = [
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_STEP_SUMMARY'
]

/**
 * The runner's file-command files set variables, PATH and outputs for later steps. Agents do not
 * get their paths, but they live under RUNNER_TEMP where an agent can find them; whatever an
 * agent wrote to them while agents ran is undone here.
 */
export async function guardFileCommands(logger: Logger): Promise<{ restore(): Promise<void> }> {
  const snapshot = new Map<string, Buffer>()
  for (const name of FILE_COMMANDS) {
    const file = process.env[name]
    if (file) snapshot.set(file, await readFile(file).catch(() => Buffer.alloc(0)))
  }
  return {
    async restore() {
      for (const [file, before] of snapshot) {
        const now = await readFile(file).catch(() => Buffer.alloc(0))
        if (now.equals(before)) continue
        await writeFile(file, before)
        logger.warning(
          `An agent wrote to the runner's file ${file} (variables or outputs for later steps); that was undone.`
        )
      }
    }
  }
}
