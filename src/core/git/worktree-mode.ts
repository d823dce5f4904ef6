import { mountAbility, Mounter, type MountAbility } from './overlay.js'
import type { WorktreeMode } from './worktrees.js'

/** The `worktree-mode` option: what the user asked for. */
export const WORKTREE_MODES = ['auto', 'overlay', 'checkout'] as const
export type WorktreeModeOption = (typeof WORKTREE_MODES)[number]

export interface ChosenWorktreeMode {
  mode: WorktreeMode
  /** Set in overlay mode: how mounts are made. */
  mounter?: Mounter
  /** One line for the log: which mode and why. */
  why: string
}

/**
 * Resolves `worktree-mode`: `checkout` as asked; `overlay` where this runner can mount overlays
 * without asking anyone (root, or passwordless sudo as on GitHub-hosted Linux runners), else a
 * clear error; `auto` overlay where it can, checkout otherwise. `notForOverlay` names a reason
 * this run needs checkouts whatever the runner can do (a feature overlays do not support).
 */
export async function chooseWorktreeMode(
  requested: WorktreeModeOption,
  probeDir: string,
  notForOverlay?: string,
  ability: (dir: string) => Promise<MountAbility> = mountAbility
): Promise<ChosenWorktreeMode> {
  if (requested === 'checkout')
    return { mode: 'checkout', why: 'checkout worktrees (worktree-mode: checkout)' }
  const can = notForOverlay ? { reason: notForOverlay } : await ability(probeDir)
  if (can.via)
    return {
      mode: 'overlay',
      mounter: new Mounter(can.via),
      why: `overlay worktrees (worktree-mode: ${requested}; ${can.reason})`
    }
  if (requested === 'overlay')
    throw new Error(
      `worktree-mode: overlay is not possible here: ${can.reason}. Use worktree-mode: auto (overlay where possible, else checkout) or checkout.`
    )
  return {
    mode: 'checkout',
    why: `checkout worktrees (worktree-mode: auto; no overlay: ${can.reason})`
  }
}
