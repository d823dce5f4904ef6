// The disk check before agents start counts what each worktree mode writes: a full tree per
// checkout worktree, the shared base once (and an index per worktree) for overlay worktrees.
import { describe, expect, it } from '@jest/globals'
import { DiskSpaceError, fitWorktrees, type TreeSize } from '../src/core/disk.js'

const MiB = 1024 * 1024
// 5 MiB of files, 100 files in 10 directories: a checkout worktree needs about 6.6 MiB.
const tree: TreeSize = { bytes: 5 * MiB, files: 100, dirs: 10 }
const fit = (mode: 'checkout' | 'overlay', freeBytes: number, inodes = 1e9) =>
  fitWorktrees({
    dir: '/work/worktrees',
    wanted: 4,
    mode,
    treeSize: async () => tree,
    freeSpace: async () => ({ bytes: freeBytes, inodes, blockSize: 4096 })
  })

describe('fitWorktrees per worktree mode', () => {
  it('counts the base tree once for overlay worktrees, once per worktree for checkouts', async () => {
    // 14 MiB: two checkouts fit, and the shared base with four overlays on top of it.
    expect((await fit('checkout', 14 * MiB)).worktrees).toBe(2)
    expect(await fit('overlay', 14 * MiB)).toEqual({ worktrees: 4 })
    // Inodes likewise: 300 free hold two checkouts (126 each), the base and four overlays.
    expect((await fit('checkout', 100 * MiB, 300)).worktrees).toBe(2)
    expect(await fit('overlay', 100 * MiB, 300)).toEqual({ worktrees: 4 })
  })

  it('refuses overlay worktrees when the shared base itself does not fit, saying so', async () => {
    await expect(fit('overlay', 5 * MiB)).rejects.toThrow(DiskSpaceError)
    await expect(fit('overlay', 5 * MiB)).rejects.toThrow(
      /one worktree needs about 6\.\d MiB \(the base tree is 100 files, 5 MiB, checked out once and shared by overlay worktrees; 4 at once need 9\.\d MiB\), but 5 MiB are free/
    )
  })
})
