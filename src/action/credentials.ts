import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Git } from '../core/git/git.js'
import type { Logger } from '../core/types.js'

/**
 * actions/checkout leaves the job token where every worktree can read it: directly as
 * `http.<url>.extraheader` in .git/config (older versions), or in a file under RUNNER_TEMP that
 * `includeIf.gitdir:<repo>/.git/worktrees/*.path` entries pull into every worktree (v6+). With
 * `submodules: true` it writes the same into each submodule's config, which is its module store
 * under .git/modules/ (nested ones under .git/modules/<name>/modules/), and task worktrees'
 * submodules are linked worktrees of those stores. While agents run, all of it is taken out;
 * afterwards each config file is written back byte for byte and the credential files refilled,
 * so later steps of the job can still push.
 */
export class HiddenCredentials {
  private constructor(
    private readonly configs: { path: string; original: Buffer }[],
    private readonly files: { path: string; content: Buffer }[],
    private readonly logger: Logger
  ) {}

  static async hide(git: Git, logger: Logger): Promise<HiddenCredentials> {
    const commonDir = path.resolve(git.repoDir, await git.out(['rev-parse', '--git-common-dir']))
    const stores = [commonDir, ...(await moduleStores(path.join(commonDir, 'modules')))]
    const configs: { path: string; original: Buffer }[] = []
    const files: { path: string; content: Buffer }[] = []
    let removed = 0
    for (const store of stores) {
      const configPath = path.join(store, 'config')
      const original = await readFile(configPath).catch(() => undefined)
      if (!original) continue
      const count = await hideIn(git, configPath, files)
      if (count === 0) continue
      configs.push({ path: configPath, original })
      removed += count
    }
    for (const file of files) await writeFile(file.path, '')
    const inSubmodules = configs.filter((c) => c.path !== path.join(commonDir, 'config')).length
    if (removed > 0)
      logger.info(
        `Hid the credentials actions/checkout persisted (${removed} config entr${removed === 1 ? 'y' : 'ies'}${inSubmodules > 0 ? `; ${inSubmodules} of the configs are submodules'` : ''}) while agents run; they are restored afterwards. Use persist-credentials: false to skip this.`
      )
    return new HiddenCredentials(configs, files, logger)
  }

  /** Puts everything back exactly as found. Safe to call more than once. */
  async restore(): Promise<void> {
    try {
      for (const config of this.configs) await writeFile(config.path, config.original)
      for (const file of this.files) await writeFile(file.path, file.content)
    } catch (error) {
      this.logger.warning(
        `Could not restore the git credentials of actions/checkout: ${String(error)}`
      )
    }
  }
}

/**
 * Takes the credential entries out of one config file: extraheaders, and includes of files that
 * hold one (those files are added to `files`, to be emptied). Returns how many entries went.
 */
async function hideIn(
  git: Git,
  configPath: string,
  files: { path: string; content: Buffer }[]
): Promise<number> {
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
  for (const record of entries.stdout.split('\0').filter(Boolean)) {
    const newline = record.indexOf('\n')
    const key = record.slice(0, newline)
    const value = record.slice(newline + 1)
    if (key.endsWith('.extraheader')) {
      removals.push({ key, value })
      continue
    }
    const target = path.resolve(
      path.dirname(configPath),
      value.replace(/^~(?=\/)/, process.env.HOME ?? '~')
    )
    const content = await readFile(target).catch(() => undefined)
    if (content && /extraheader|authorization:/i.test(content.toString('utf8'))) {
      removals.push({ key, value })
      if (!files.some((f) => f.path === target)) files.push({ path: target, content })
    }
  }
  for (const { key, value } of removals) {
    await git.run(['config', '--file', configPath, '--fixed-value', '--unset-all', key, value], {
      okExitCodes: [5]
    })
  }
  return removals.length
}

/**
 * The module stores under a `modules` directory, nested ones too (a submodule's name may hold
 * slashes, so a directory that is not a store is looked into as well). A store is a directory
 * with HEAD and config.
 */
async function moduleStores(dir: string, depth = 0): Promise<string[]> {
  if (depth > 12) return []
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  const found: string[] = []
  for (const entry of entries) {
    if (!entry.isDirectory()) continue
    const sub = path.join(dir, entry.name)
    const isStore =
      (await isFile(path.join(sub, 'HEAD'))) && (await isFile(path.join(sub, 'config')))
    if (isStore) found.push(sub, ...(await moduleStores(path.join(sub, 'modules'), depth + 1)))
    else found.push(...(await moduleStores(sub, depth + 1)))
  }
  return found
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false
  )
}
