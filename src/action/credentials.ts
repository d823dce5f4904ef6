import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Git } from '../core/git/git.js'
import type { Logger } from '../core/types.js'

/**
 * actions/checkout leaves the job token where every worktree can read it: directly as
 * `http.<url>.extraheader` in .git/config (older versions), or in a file under RUNNER_TEMP that
 * `includeIf.gitdir:<repo>/.git/worktrees/*.path` entries pull into every worktree (v6+).
 * While agents run, both are taken out; afterwards the config file is written back byte for
 * byte and the credential files refilled, so later steps of the job can still push.
 */
export class HiddenCredentials {
  private constructor(
    private readonly configPath: string,
    private readonly originalConfig: Buffer | undefined,
    private readonly files: { path: string; content: Buffer }[],
    private readonly logger: Logger
  ) {}

  static async hide(git: Git, logger: Logger): Promise<HiddenCredentials> {
    const commonDir = path.resolve(git.repoDir, await git.out(['rev-parse', '--git-common-dir']))
    const configPath = path.join(commonDir, 'config')
    const original = await readFile(configPath)
    const entries = await git.run(
      [
        'config',
        '--file',
        configPath,
        '--null',
        '--get-regexp',
        '^(http\\..*\\.extraheader|include\\.path|includeif\\..*\\.path)$'
      ],
      { okExitCodes: [1] }
    )
    const removals: { key: string; value: string }[] = []
    const files: { path: string; content: Buffer }[] = []
    for (const record of entries.stdout.split('\0').filter(Boolean)) {
      const newline = record.indexOf('\n')
      const key = record.slice(0, newline)
      const value = record.slice(newline + 1)
      if (key.endsWith('.extraheader')) {
        removals.push({ key, value })
        continue
      }
      const target = path.resolve(commonDir, value.replace(/^~(?=\/)/, process.env.HOME ?? '~'))
      const content = await readFile(target).catch(() => undefined)
      if (content && /extraheader|authorization:/i.test(content.toString('utf8'))) {
        removals.push({ key, value })
        if (!files.some((f) => f.path === target)) files.push({ path: target, content })
      }
    }
    if (removals.length === 0) {
      return new HiddenCredentials(configPath, undefined, [], logger)
    }
    for (const { key, value } of removals) {
      await git.run(['config', '--file', configPath, '--fixed-value', '--unset-all', key, value], {
        okExitCodes: [5]
      })
    }
    for (const file of files) await writeFile(file.path, '')
    logger.info(
      `Hid the credentials actions/checkout persisted (${removals.length} config entr${removals.length === 1 ? 'y' : 'ies'}) while agents run; they are restored afterwards. Use persist-credentials: false to skip this.`
    )
    return new HiddenCredentials(configPath, original, files, logger)
  }

  /** Puts everything back exactly as found. Safe to call more than once. */
  async restore(): Promise<void> {
    if (!this.originalConfig) return
    try {
      await writeFile(this.configPath, this.originalConfig)
      for (const file of this.files) await writeFile(file.path, file.content)
    } catch (error) {
      this.logger.warning(
        `Could not restore the git credentials of actions/checkout: ${String(error)}`
      )
    }
  }
}
