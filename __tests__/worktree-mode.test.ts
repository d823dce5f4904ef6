// worktree-mode: which worktrees a run gets, and the log line that says why.
import { afterAll, describe, expect, it } from '@jest/globals'
import { chooseWorktreeMode } from '../src/core/git/worktree-mode.js'
import { mountAbility } from '../src/core/git/overlay.js'
import { removeTempDirs, tempDir } from '../test-support/git-fixtures.js'

afterAll(removeTempDirs)

const cannot = async () => ({
  reason: 'not root, and sudo asks for a password (sudo -n true failed)'
})
const can = async () => ({ via: 'sudo' as const, reason: 'passwordless sudo works' })

describe('chooseWorktreeMode', () => {
  it('auto takes overlays where the runner can mount them, and checkouts elsewhere, saying why', async () => {
    const dir = await tempDir('mode')
    const yes = await chooseWorktreeMode('auto', dir, undefined, can)
    expect(yes.mode).toBe('overlay')
    expect(yes.mounter?.via).toBe('sudo')
    expect(yes.why).toBe('overlay worktrees (worktree-mode: auto; passwordless sudo works)')
    const no = await chooseWorktreeMode('auto', dir, undefined, cannot)
    expect(no).toEqual({
      mode: 'checkout',
      why: 'checkout worktrees (worktree-mode: auto; no overlay: not root, and sudo asks for a password (sudo -n true failed))'
    })
    // A feature overlays do not support wins over the runner's ability.
    const sparse = await chooseWorktreeMode('auto', dir, 'sparse-checkout is set', can)
    expect(sparse.mode).toBe('checkout')
    expect(sparse.why).toContain('no overlay: sparse-checkout is set')
  })

  it('overlay is an error where it cannot be had; checkout is always checkout', async () => {
    const dir = await tempDir('mode')
    await expect(chooseWorktreeMode('overlay', dir, undefined, cannot)).rejects.toThrow(
      /^worktree-mode: overlay is not possible here: not root, and sudo asks for a password .*Use worktree-mode: auto/
    )
    expect((await chooseWorktreeMode('checkout', dir, undefined, can)).mode).toBe('checkout')
  })
})

const describeRoot = process.getuid?.() === 0 ? describe : describe.skip
describeRoot('mountAbility (needs root)', () => {
  it('finds this machine able to mount overlays as root', async () => {
    const ability = await mountAbility(await tempDir('mode-probe'))
    expect(ability).toEqual({ via: 'root', reason: 'running as root' })
  })
})
