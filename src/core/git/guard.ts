import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Git } from './git.js'

/**
 * Agents share the repository's .git with the engine: its config and hooks are theirs to
 * change. The engine's own git calls already ignore hooks and fsmonitor and carry no token, but
 * a planted filter or merge driver would still be config the engine reads. This guard takes a
 * snapshot before agents start, and after each agent puts back anything that changed and says
 * so.
 */
export class SharedGitGuard {
  private constructor(
    private readonly configPath: string,
    private readonly hooksDir: string,
    private readonly config: Buffer,
    private readonly hooks: Map<string, Buffer>
  ) {}

  static async snapshot(git: Git): Promise<SharedGitGuard> {
    const commonDir = path.resolve(git.repoDir, await git.out(['rev-parse', '--git-common-dir']))
    const configPath = path.join(commonDir, 'config')
    const hooksDir = path.join(commonDir, 'hooks')
    const hooks = new Map<string, Buffer>()
    for (const name of await readdir(hooksDir).catch(() => [] as string[])) {
      hooks.set(name, await readFile(path.join(hooksDir, name)).catch(() => Buffer.alloc(0)))
    }
    return new SharedGitGuard(configPath, hooksDir, await readFile(configPath), hooks)
  }

  /** Restores config and hooks if they changed; returns what was changed (empty when nothing). */
  async restore(): Promise<string[]> {
    const changes: string[] = []
    const config = await readFile(this.configPath).catch(() => Buffer.alloc(0))
    if (!config.equals(this.config)) {
      changes.push(`.git/config (${describeConfigChange(this.config, config)})`)
      await writeFile(this.configPath, this.config)
    }
    const now = await readdir(this.hooksDir).catch(() => [] as string[])
    for (const name of now) {
      const file = path.join(this.hooksDir, name)
      const content = await readFile(file).catch(() => Buffer.alloc(0))
      const before = this.hooks.get(name)
      if (!before) {
        changes.push(`.git/hooks/${name} (added)`)
        await rm(file, { force: true, recursive: true })
      } else if (!before.equals(content)) {
        changes.push(`.git/hooks/${name} (changed)`)
        await writeFile(file, before)
      }
    }
    return changes
  }
}

function describeConfigChange(before: Buffer, after: Buffer): string {
  const lines = (b: Buffer): Set<string> =>
    new Set(
      b
        .toString('utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    )
  const old = lines(before)
  const added = [...lines(after)].filter((l) => !old.has(l)).map((l) => l.replace(/=.*/, '= …'))
  return added.length ? `added ${added.slice(0, 5).join('; ')}` : 'entries removed'
}
