// unmergedInIndex (src/core/git/collect.ts) reads git's index file to find unmerged entries
// without a process per task; it must agree with `git ls-files -u` on every index version git
// writes, and give up (so the caller asks git) where it cannot be sure.
import { afterAll, describe, expect, it } from '@jest/globals'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { unmergedInIndex } from '../src/core/git/collect.js'
import { git, removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

/** A repository left in a conflicted merge: four files conflict, nested ones and a long path. */
async function conflicted(format = 'sha1'): Promise<string> {
  const dir = await tempDir('index')
  await git(dir, ['init', '-q', '--initial-branch=main', `--object-format=${format}`])
  const long = `${'d'.repeat(200)}/${'e'.repeat(200)}/${'x'.repeat(200)}.txt`
  const files = ['a.txt', 'dir/b.txt', long, 'z.txt', 'dir/sub/c.txt']
  const write = async (content: string) => {
    for (const f of files) {
      await mkdir(path.dirname(path.join(dir, f)), { recursive: true })
      await writeFile(path.join(dir, f), f === 'z.txt' ? 'same\n' : `${content}\n`)
    }
  }
  await write('base')
  await git(dir, ['add', '-A'])
  await git(dir, ['commit', '-qm', 'base'])
  await git(dir, ['checkout', '-qb', 'other'])
  await write('other')
  await git(dir, ['commit', '-qam', 'other'])
  await git(dir, ['checkout', '-q', 'main'])
  await write('main')
  await git(dir, ['commit', '-qam', 'main'])
  await git(dir, ['merge', '-q', 'other']).catch(() => undefined)
  return dir
}

const lsFilesU = async (dir: string): Promise<string[]> => [
  ...new Set(
    (await git(dir, ['ls-files', '-u', '-z']))
      .split('\0')
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf('\t') + 1))
  )
]
const index = (dir: string) => readFile(path.join(dir, '.git', 'index'))

describe('unmergedInIndex', () => {
  it.each([2, 3, 4])('finds the unmerged paths git finds, index version %i', async (version) => {
    const dir = await conflicted()
    await git(dir, ['update-index', '--index-version', String(version)])
    // An intent-to-add entry carries the extended flags (version 3 and up).
    if (version >= 3) {
      await writeFile(path.join(dir, 'new.txt'), 'n\n')
      await git(dir, ['add', '-N', 'new.txt'])
    }
    const expected = await lsFilesU(dir)
    expect(expected).toHaveLength(4)
    expect(unmergedInIndex(await index(dir))).toEqual(expected)
    // Resolved: none left.
    await git(dir, ['add', '-A'])
    expect(unmergedInIndex(await index(dir))).toEqual([])
  })

  it('reads the index of a SHA-256 repository', async () => {
    const dir = await conflicted('sha256')
    expect(unmergedInIndex(await index(dir))).toEqual(await lsFilesU(dir))
    expect(await lsFilesU(dir)).toHaveLength(4)
  })

  it('gives up on a split index and on a damaged file, so that the caller asks git', async () => {
    const dir = await conflicted()
    await git(dir, ['update-index', '--split-index'])
    expect(unmergedInIndex(await index(dir))).toBeUndefined()
    const bytes = await index(await conflicted())
    expect(unmergedInIndex(bytes.subarray(0, bytes.length - 30))).toBeUndefined()
    expect(unmergedInIndex(Buffer.from('not an index at all'))).toBeUndefined()
  })
})
