// ObjectStoreGuard (src/core/git/precious.ts) against real git: git's destructive maintenance
// keeps its hands off the object store while a run lasts, and the repository's config is given
// back as it was, also after a run that died, and not while another run still needs it.
import { afterAll, describe, expect, it } from '@jest/globals'
import { readdir, readFile, rename } from 'node:fs/promises'
import path from 'node:path'
import { Git } from '../src/core/git/git.js'
import { ObjectStoreGuard } from '../src/core/git/precious.js'
import { memoryLogger } from '../src/core/logger.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs
} from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

async function repo() {
  const origin = await createOrigin({ 'a.txt': 'a\n' })
  const dir = await cloneWorkspace(origin, { depth: 0 })
  const env = isolatedGitEnv(origin.home)
  const common = path.join(dir, '.git')
  const config = () => readFile(path.join(common, 'config'), 'utf8')
  return { dir, env, common, config, g: new Git(dir, { env }) }
}

const protect = (r: Awaited<ReturnType<typeof repo>>, id: string) =>
  ObjectStoreGuard.protect(r.g, r.common, id, memoryLogger())

describe('ObjectStoreGuard', () => {
  it('keeps an unreferenced object through gc --prune=now, prune and repack -a -d, then gives the config back byte for byte', async () => {
    const r = await repo()
    const before = await r.config()
    const guard = await protect(r, 'run1')
    const blob = await new Git(r.dir, { env: r.env }).out(['hash-object', '-w', '--stdin'], {
      stdin: 'nobody refers to me\n'
    })
    await git(r.dir, ['gc', '--prune=now', '--quiet'], r.env)
    await expect(git(r.dir, ['prune'], r.env)).rejects.toThrow(
      /cannot prune in a precious-objects repo/
    )
    await expect(git(r.dir, ['repack', '-a', '-d', '-q'], r.env)).rejects.toThrow(
      /cannot delete packs in a precious-objects repo/
    )
    expect(await git(r.dir, ['cat-file', '-t', blob], r.env)).toBe('blob')
    await guard.release()
    expect(await r.config()).toBe(before)
    expect(await readdir(r.common)).not.toContain('agent-fanout-precious')
    // Afterwards git prunes again.
    await git(r.dir, ['prune', '--expire=now'], r.env)
    await expect(git(r.dir, ['cat-file', '-t', blob], r.env)).rejects.toThrow()
  })

  it('leaves a setting the repository already had alone', async () => {
    const r = await repo()
    await git(r.dir, ['config', 'extensions.preciousObjects', 'true'], r.env)
    const before = await r.config()
    const guard = await protect(r, 'run1')
    await guard.release()
    expect(await r.config()).toBe(before)
  })

  it('takes the setting back only when the last of two overlapping runs ends', async () => {
    const r = await repo()
    const before = await r.config()
    const first = await protect(r, 'run1')
    const second = await protect(r, 'run2')
    await first.release()
    expect(await git(r.dir, ['config', 'extensions.preciousObjects'], r.env)).toBe('true')
    await second.release()
    expect(await r.config()).toBe(before)
  })

  it('takes back the setting a run that died left behind', async () => {
    const r = await repo()
    const before = await r.config()
    await protect(r, 'crashed')
    // The run died without releasing: its marker names a process that no longer exists.
    const markers = path.join(r.common, 'agent-fanout-precious')
    const [marker] = (await readdir(markers)).filter((n) => n.endsWith('-crashed'))
    await rename(path.join(markers, marker), path.join(markers, '2147483646-crashed'))
    const next = await protect(r, 'next')
    await next.release()
    expect(await r.config()).toBe(before)
    expect(await readdir(r.common)).not.toContain('agent-fanout-precious')
  })
})
