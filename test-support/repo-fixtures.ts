// Real-git fixtures for repositories with Git LFS files and submodules (issue 16). Built on
// git-fixtures.ts: bare origins in temp dirs, workspaces cloned the way actions/checkout does.
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  cloneWorkspace,
  commitToOrigin,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir,
  type Origin
} from './git-fixtures.js'

const execFileAsync = promisify(execFile)

/** Why LFS tests cannot run here, or undefined when `git lfs version` works. */
export async function lfsMissing(): Promise<string | undefined> {
  return execFileAsync('git', ['lfs', 'version']).then(
    () => undefined,
    () => 'git-lfs is not installed (`git lfs version` fails): the LFS tests are skipped'
  )
}

/** A HOME whose ~/.gitconfig has git-lfs's filters (`git lfs install`), as on GitHub's runners. */
export async function lfsHome(): Promise<string> {
  const home = await tempDir('lfs-home')
  await git(home, ['lfs', 'install', '--skip-repo'], isolatedGitEnv(home))
  return home
}

/** Content of the LFS file the fixture holds (binary-ish, so a pointer is easy to tell apart). */
export const LFS_CONTENT = `LFS payload ${'x'.repeat(2000)}\n`

/**
 * An origin whose main holds `big.bin` and `assets/other.bin` in LFS, or the given `.bin` files
 * (their objects on the origin's file-based LFS store, `<bare>/lfs/objects`, which git-lfs
 * uses for file:// remotes), and a plain README.
 */
export async function lfsOrigin(
  files: Record<string, string> = {
    'big.bin': LFS_CONTENT,
    'assets/other.bin': `other ${LFS_CONTENT}`
  }
): Promise<Origin> {
  const origin = await createOrigin({ 'README.md': '# LFS demo\n' })
  const home = await lfsHome()
  const withLfs: Origin = { ...origin, home }
  await commitToOrigin(
    withLfs,
    { '.gitattributes': '*.bin filter=lfs diff=lfs merge=lfs -text\n', ...files },
    'Add LFS files'
  )
  return withLfs
}

/** Whether `file` (an existing path) is an LFS pointer rather than content. */
export function isPointer(text: string): boolean {
  return text.startsWith('version https://git-lfs.github.com/spec/')
}

export interface SuperWorld {
  sub: Origin
  superOrigin: Origin
  workspace: string
  env: NodeJS.ProcessEnv
}

/**
 * A submodule origin (`s.txt`), a superproject origin with it at `lib`, and a workspace cloned
 * from the superproject with the submodule initialised (`git submodule update --init`; with
 * `depth`, a shallow module store, as actions/checkout's `submodules: true` makes one).
 */
export async function submoduleWorld(opts: { depth?: number } = {}): Promise<SuperWorld> {
  const sub = await createOrigin({ 's.txt': 's1\n' })
  const superOrigin = await createOrigin({ 'a.txt': 'a\n', 'pkg/b.txt': 'b\n' })
  const env = isolatedGitEnv(superOrigin.home)
  const allow = ['-c', 'protocol.file.allow=always']
  const scratch = await tempDir('super-seed')
  await git(scratch, ['clone', '--quiet', superOrigin.url, '.'], env)
  await git(scratch, [...allow, 'submodule', '--quiet', 'add', sub.url, 'lib'], env)
  await git(scratch, ['commit', '--quiet', '-m', 'Add submodule lib'], env)
  await git(scratch, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], env)
  const workspace = await cloneWorkspace(superOrigin, { depth: 0 })
  const depth = opts.depth ? [`--depth=${opts.depth}`] : []
  await git(workspace, [...allow, 'submodule', '--quiet', 'update', '--init', ...depth], env)
  return { sub, superOrigin, workspace, env }
}

/** Pushes a commit to the submodule's origin; returns it. */
export async function commitToSub(w: SuperWorld, content: string): Promise<string> {
  return commitToOrigin(w.sub, { 's.txt': content }, `sub: ${content.trim()}`)
}

/** Writes files under a directory (test helper). */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true })
    await writeFile(path.join(root, rel), content)
  }
}

export interface NestedWorld extends SuperWorld {
  /** The submodule's own submodule, at `lib/inner` (`inner` inside lib). */
  inner: Origin
}

/**
 * submoduleWorld one level deeper: the submodule `lib` has a submodule `inner` (`i.txt`), and
 * the workspace is initialised with `git submodule update --init --recursive`, so its module
 * store for inner is .git/modules/lib/modules/inner.
 */
export async function nestedSubmoduleWorld(): Promise<NestedWorld> {
  const inner = await createOrigin({ 'i.txt': 'i1\n' })
  const sub = await createOrigin({ 's.txt': 's1\n' })
  const superOrigin = await createOrigin({ 'a.txt': 'a\n' })
  const env = isolatedGitEnv(superOrigin.home)
  const allow = ['-c', 'protocol.file.allow=always']
  const addTo = async (origin: Origin, url: string, at: string, message: string) => {
    const scratch = await tempDir('nested-seed')
    await git(scratch, ['clone', '--quiet', origin.url, '.'], env)
    await git(scratch, [...allow, 'submodule', '--quiet', 'add', url, at], env)
    await git(scratch, ['commit', '--quiet', '-m', message], env)
    await git(scratch, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], env)
  }
  await addTo(sub, inner.url, 'inner', 'Add submodule inner')
  await addTo(superOrigin, sub.url, 'lib', 'Add submodule lib')
  const workspace = await cloneWorkspace(superOrigin, { depth: 0 })
  await git(workspace, [...allow, 'submodule', '--quiet', 'update', '--init', '--recursive'], env)
  return { inner, sub, superOrigin, workspace, env }
}

/**
 * Pushes to lib's origin a commit that moves its `inner` gitlink to a new commit pushed to
 * inner's origin (both published, as a person would leave them); returns lib's new commit.
 */
export async function publishNestedMove(w: NestedWorld): Promise<string> {
  const innerSha = await commitToOrigin(w.inner, { 'i.txt': 'i2\n' }, 'inner: i2')
  const scratch = await tempDir('nested-move')
  await git(scratch, ['clone', '--quiet', w.sub.url, '.'], w.env)
  await git(scratch, ['update-index', '--cacheinfo', `160000,${innerSha},inner`], w.env)
  await git(scratch, ['commit', '--quiet', '-m', 'lib: move inner to i2'], w.env)
  await git(scratch, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], w.env)
  return git(scratch, ['rev-parse', 'HEAD'], w.env)
}
