import { isAttributesFile, splitNul } from './git/attributes.js'
import type { Git } from './git/git.js'
import { lfsFileSizes, maybePointer } from './git/lfs.js'
import { formatBytes, freeSpace } from './util/no-space.js'

/** What a checkout of the base tree writes: its files' bytes, and how many files and directories. */
export interface TreeSize {
  /** Blob sizes, each rounded up to whole blocks (a 10-byte file takes a block). */
  bytes: number
  files: number
  dirs: number
}

export interface FreeSpace {
  bytes: number
  inodes: number
  blockSize: number
}

export interface DiskFitOptions {
  /** Where the worktrees go (its filesystem is the one that must hold them). */
  dir: string
  /** Worktrees the run would have at once: min(tasks to run, max-parallel). */
  wanted: number
  /** The base tree's size on a filesystem of the given block size. */
  treeSize: (blockSize: number) => Promise<TreeSize>
  freeSpace: (dir: string) => Promise<FreeSpace>
  /**
   * `overlay`: the base tree is on disk once (the shared lower checkout) and each worktree holds
   * only its index and what its task changes; `checkout` (default): a full tree per worktree.
   */
  mode?: 'checkout' | 'overlay'
}

export interface DiskFit {
  /** Worktrees at once that fit (at least 1, at most `wanted`). */
  worktrees: number
  /** Set when fewer than `wanted` fit: says both figures. */
  warning?: string
}

/** Per worktree on top of its tree: the prompt, the log's start, git's admin files. */
const PER_WORKTREE_EXTRA = 1024 * 1024
/** An index entry, roughly (62 bytes of stat data and hash, the path, padding). */
const INDEX_ENTRY_BYTES = 100
/** Files beside the tree's: .git, the index, the admin directory's few files. */
const PER_WORKTREE_INODES = 16

/** Thrown before any agent starts when not even one worktree fits. */
export class DiskSpaceError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DiskSpaceError'
  }
}

/**
 * Before agents start: does a checkout of the base tree, as many times as worktrees are on disk
 * at once (overlay worktrees: once, shared, plus each worktree's index), fit where they go? The need of one worktree is its files rounded up to blocks, a
 * block per directory and an index entry per file, plus a margin (a tenth more, and 1 MiB for
 * its prompt, log and git's admin files); agents' own writes cannot be known and are not
 * counted. When `wanted` do not fit, as many as fit are used (with a warning naming both
 * figures); when not one fits, the run is refused with a DiskSpaceError naming both.
 */
export async function fitWorktrees(options: DiskFitOptions): Promise<DiskFit> {
  if (options.wanted < 1) return { worktrees: options.wanted }
  const free = await options.freeSpace(options.dir)
  const tree = await options.treeSize(free.blockSize)
  const need = needs(tree, free.blockSize, options.mode ?? 'checkout')
  const fitting = Math.min(
    Math.floor((free.bytes - need.sharedBytes) / need.perBytes),
    Math.floor((free.inodes - need.sharedInodes) / need.perInodes),
    options.wanted
  )
  if (fitting >= options.wanted) return { worktrees: options.wanted }
  const inodesShort = free.inodes < need.sharedInodes + need.perInodes * Math.max(1, fitting + 1)
  const total = (n: number): string =>
    inodesShort
      ? `${need.sharedInodes + need.perInodes * n} files (inodes)`
      : formatBytes(need.sharedBytes + need.perBytes * n)
  const have = inodesShort ? `${free.inodes} files (inodes)` : formatBytes(free.bytes)
  const treeText = `the base tree is ${tree.files} files, ${formatBytes(tree.bytes)}${
    options.mode === 'overlay' ? ', checked out once and shared by overlay worktrees' : ''
  }`
  if (fitting < 1) {
    throw new DiskSpaceError(
      `Not enough free space for the worktrees in ${options.dir}: one worktree needs about ${total(1)} (${treeText}; ${options.wanted} at once need ${total(options.wanted)}), but ${have} are free. Nothing was started: free some space, or put the work directory on a larger disk.`
    )
  }
  return {
    worktrees: fitting,
    warning: `Not enough free space in ${options.dir} for ${options.wanted} worktrees at once: they need about ${total(options.wanted)} (${treeText}), and ${have} are free. Running at most ${fitting} agent(s) at once instead (${total(fitting)}).`
  }
}

/** What the worktrees take: once for the run (overlay: the shared base) and per worktree. */
function needs(
  tree: TreeSize,
  blockSize: number,
  mode: 'checkout' | 'overlay'
): { sharedBytes: number; sharedInodes: number; perBytes: number; perInodes: number } {
  const files = Math.ceil((tree.bytes + tree.dirs * blockSize) * 1.1)
  const index = tree.files * INDEX_ENTRY_BYTES
  const inodes = tree.files + tree.dirs
  if (mode === 'overlay')
    return {
      sharedBytes: files + index,
      sharedInodes: inodes,
      perBytes: Math.ceil(index * 1.1) + PER_WORKTREE_EXTRA,
      perInodes: PER_WORKTREE_INODES
    }
  return {
    sharedBytes: 0,
    sharedInodes: 0,
    perBytes: Math.ceil(files + index * 1.1) + PER_WORKTREE_EXTRA,
    perInodes: inodes + PER_WORKTREE_INODES
  }
}

/**
 * The base tree's size from one `git ls-tree` (object sizes come from the object store's
 * headers, nothing is checked out): about 0.1 s for 50,000 files. Submodules are not checked
 * out in worktrees and count for nothing. LFS files are checked out at their real size, not
 * their pointer's: a tree with a .gitattributes or .lfsconfig has its small blobs that may be
 * pointers read in one more process (lfs.ts; 10,000 blobs under 1 KiB take about 0.1 s more).
 */
export async function measureTree(git: Git, sha: string, blockSize: number): Promise<TreeSize> {
  const listing = await git.bytes([
    'ls-tree',
    '-r',
    '-t',
    '-z',
    '--format=%(objecttype) %(objectsize) %(objectname)\t%(path)',
    sha
  ])
  const size: TreeSize = { bytes: 0, files: 0, dirs: 0 }
  const block = Math.max(1, blockSize)
  const inBlocks = (bytes: number): number => Math.ceil(bytes / block) * block
  const small: { oid: string; bytes: number }[] = []
  const lfs = { attributes: [] as string[], lfsconfig: false }
  for (const record of splitNul(listing)) {
    const line = record.toString('latin1')
    const tab = line.indexOf('\t')
    const [type, objectSize, oid] = line.slice(0, tab).split(' ')
    const file = line.slice(tab + 1)
    if (type === 'tree') size.dirs++
    if (type !== 'blob') continue
    const bytes = Number(objectSize)
    size.files++
    size.bytes += inBlocks(bytes)
    if (isAttributesFile(file)) lfs.attributes.push(oid)
    else if (file === '.lfsconfig') lfs.lfsconfig = true
    else if (maybePointer(bytes)) small.push({ oid, bytes })
  }
  const real = await lfsFileSizes(
    git,
    small.map((b) => b.oid),
    lfs
  )
  for (const blob of small) {
    const bytes = real.get(blob.oid)
    if (bytes !== undefined) size.bytes += inBlocks(bytes) - inBlocks(blob.bytes)
  }
  return size
}

/**
 * The engine's max-parallel once the disk has had its say: `maxParallel`, or fewer worktrees
 * at once when that many do not fit (`warn` hears why); throws DiskSpaceError when none fits.
 */
export async function fitOnDisk(
  git: Git,
  options: { baseSha: string; maxParallel: number },
  dir: string,
  tasksToRun: number,
  warn: (warning: string) => void,
  mode: 'checkout' | 'overlay' = 'checkout'
): Promise<number> {
  const fit = await fitWorktrees({
    dir,
    mode,
    wanted: Math.min(tasksToRun, options.maxParallel),
    treeSize: (blockSize) => measureTree(git, options.baseSha, blockSize),
    freeSpace
  })
  if (!fit.warning) return options.maxParallel
  warn(fit.warning)
  return fit.worktrees
}
