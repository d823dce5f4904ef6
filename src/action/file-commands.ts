import * as core from '@actions/core'
import { readFile, writeFile } from 'node:fs/promises'
import type { Logger } from '../core/types.js'
import { errorMessage } from '../core/util/errors.js'
import { isNoSpace } from '../core/util/no-space.js'

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
        try {
          await writeFile(file, before)
        } catch (error) {
          // A full disk must not cost the report: the step fails with the reason instead.
          core.setFailed(
            `An agent wrote to the runner's file ${file}, and it could not be put back: ${errorMessage(error)}`
          )
          continue
        }
        logger.warning(
          `An agent wrote to the runner's file ${file} (variables or outputs for later steps); that was undone.`
        )
      }
    }
  }
}

/**
 * A write to the runner's file-command files (state, outputs, the job summary, all under
 * RUNNER_TEMP, where agents may have filled the disk): when the disk is full it costs that
 * write and fails the step with a reason, never the status comment that is still to be posted.
 */
export async function whileDiskAllows(what: string, write: () => unknown): Promise<void> {
  try {
    await write()
  } catch (error) {
    if (!isNoSpace(error)) throw error
    core.setFailed(`no space left on device for ${what}: ${errorMessage(error)}`)
  }
}
