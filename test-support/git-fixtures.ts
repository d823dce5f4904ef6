// Real-git fixtures for tests: a bare "origin" in a temp dir, workspaces cloned from it the way
// actions/checkout makes them (shallow by default), and checkout's persisted credentials.
// Nothing here mocks git; every helper runs the real `git` binary with an isolated environment.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

export const TEST_AUTHOR_NAME = 'Fixture Author'
export const TEST_AUTHOR_EMAIL = 'fixture-author@example.test'

/**
 * A git environment built from scratch: only PATH is taken from process.env, so GIT_DIR,
 * GIT_WORK_TREE, GIT_INDEX_FILE, proxies, NODE_OPTIONS and the developer's identity never leak in.
 * HOME points at `home` (so ~/.gitconfig is the test's), system config is ignored and git never
 * prompts for credentials.
 */
export function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C',
    LC_ALL: 'C',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: TEST_AUTHOR_NAME,
    GIT_AUTHOR_EMAIL: TEST_AUTHOR_EMAIL,
    GIT_COMMITTER_NAME: TEST_AUTHOR_NAME,
    GIT_COMMITTER_EMAIL: TEST_AUTHOR_EMAIL,
    // The suite's worktree mode (`npm run test:checkout`), for the CLI and action it starts.
    ...forcedWorktreeMode()
  }
}

/** AGENT_FANOUT_WORKTREE_MODE as the suite was started with, for the processes tests start. */
export function forcedWorktreeMode(): Record<string, string> {
  const mode = process.env.AGENT_FANOUT_WORKTREE_MODE
  return mode ? { AGENT_FANOUT_WORKTREE_MODE: mode } : {}
}

const createdTempDirs = new Set<string>()

/** A fresh directory under os.tmpdir() (symlinks resolved), removed by removeTempDirs(). */
export async function tempDir(prefix: string): Promise<string> {
  const safePrefix = prefix.replace(/[^A-Za-z0-9._-]/g, '-')
  const dir = await realpath(await mkdtemp(path.join(os.tmpdir(), `${safePrefix}-`)))
  createdTempDirs.add(dir)
  return dir
}

/** Removes every directory tempDir() created so far. Call from afterAll. */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...createdTempDirs]
  createdTempDirs.clear()
  await Promise.all(
    dirs.map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 }))
  )
}

let defaultHome: Promise<string> | undefined

async function defaultEnv(): Promise<NodeJS.ProcessEnv> {
  defaultHome ??= tempDir('git-home')
  let home: string
  try {
    home = await defaultHome
  } catch (error) {
    defaultHome = undefined
    throw error
  }
  return isolatedGitEnv(home)
}

/** Runs `git <args>` in cwd; resolves to trimmed stdout, rejects with stderr on failure. */
export async function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const childEnv = env ?? (await defaultEnv())
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd, env: childEnv, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as { code?: unknown }).code
          reject(
            new Error(
              `git ${args.join(' ')} failed in ${cwd} (exit ${String(code)}): ${stderr.trim() || error.message}`
            )
          )
          return
        }
        resolve(stdout.trim())
      }
    )
  })
}

export interface Origin {
  bareDir: string
  /** file:// URL of bareDir, so `--depth` is honoured as it is for a network remote. */
  url: string
  /** HOME used for git commands run against this origin by these helpers. */
  home: string
}

async function writeFiles(root: string, files: Record<string, string | null>): Promise<void> {
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(root, relative)
    if (!target.startsWith(root + path.sep))
      throw new Error(`file path escapes the repo: ${relative}`)
    if (content === null) {
      await rm(target, { force: true, recursive: true })
    } else {
      await mkdir(path.dirname(target), { recursive: true })
      await writeFile(target, content)
    }
  }
}

/**
 * A bare repository whose `branch` (default `main`, also its HEAD) ends in one commit holding
 * exactly `files`. `commits` (default 2, minimum 1) is the total number of commits on the branch:
 * the ones before the tip are empty "history" commits, so a depth-1 clone is really shallow while
 * the tip tree stays exactly `files`.
 */
export async function createOrigin(
  files: Record<string, string>,
  opts: { branch?: string; commits?: number } = {}
): Promise<Origin> {
  const branch = opts.branch ?? 'main'
  const commits = Math.max(1, Math.floor(opts.commits ?? 2))
  const home = await tempDir('origin-home')
  const env = isolatedGitEnv(home)
  const bareDir = path.join(await tempDir('origin'), 'origin.git')
  await mkdir(bareDir)
  await git(bareDir, ['init', '--quiet', '--bare', `--initial-branch=${branch}`], env)

  const scratch = await tempDir('origin-seed')
  await git(scratch, ['init', '--quiet', `--initial-branch=${branch}`], env)
  for (let i = 1; i < commits; i++) {
    await git(scratch, ['commit', '--quiet', '--allow-empty', '-m', `History commit ${i}`], env)
  }
  await writeFiles(scratch, files)
  await git(scratch, ['add', '--all'], env)
  await git(scratch, ['commit', '--quiet', '--allow-empty', '-m', 'Initial content'], env)
  await git(scratch, ['push', '--quiet', bareDir, `HEAD:refs/heads/${branch}`], env)
  await rm(scratch, { recursive: true, force: true })

  return { bareDir, url: pathToFileURL(bareDir).href, home }
}

/**
 * Pushes one commit to `branch` (default: origin's HEAD branch) through a scratch clone.
 * `null` deletes a file. A branch that does not exist yet is created from origin's HEAD.
 * Returns the new commit's sha.
 */
export async function commitToOrigin(
  origin: Origin,
  files: Record<string, string | null>,
  message: string,
  branch?: string
): Promise<string> {
  const env = isolatedGitEnv(origin.home)
  const target = branch ?? (await originHeadBranch(origin))
  const scratch = await tempDir('origin-commit')
  await git(scratch, ['clone', '--quiet', '--no-checkout', origin.url, '.'], env)
  const remoteRef = `refs/remotes/origin/${target}`
  const exists = await git(scratch, ['rev-parse', '--verify', '--quiet', remoteRef], env).then(
    () => true,
    () => false
  )
  const start = exists ? remoteRef : 'HEAD'
  await git(scratch, ['checkout', '--quiet', '--force', '-B', target, start], env)
  await writeFiles(scratch, files)
  await git(scratch, ['add', '--all'], env)
  await git(scratch, ['commit', '--quiet', '--allow-empty', '-m', message], env)
  const sha = await git(scratch, ['rev-parse', 'HEAD'], env)
  await git(scratch, ['push', '--quiet', 'origin', `HEAD:refs/heads/${target}`], env)
  await rm(scratch, { recursive: true, force: true })
  return sha
}

async function originHeadBranch(origin: Origin): Promise<string> {
  const ref = await git(origin.bareDir, ['symbolic-ref', 'HEAD'], isolatedGitEnv(origin.home))
  return ref.replace(/^refs\/heads\//, '')
}

/**
 * A workspace made the way actions/checkout makes one: `git init`, `git remote add origin <file://>`,
 * `gc.auto 0`, `git fetch --no-tags --prune --no-recurse-submodules --depth=<depth> origin
 * +<sha>:refs/remotes/origin/<branch>`, then `git checkout --force -B <branch>
 * refs/remotes/origin/<branch>` (a local branch tracking origin, no tags, no origin/HEAD).
 * depth defaults to 1; depth 0 fetches all branches and tags with full history (fetch-depth: 0).
 * The remote.origin.fetch refspec stays the default `+refs/heads/*:refs/remotes/origin/*`.
 */
export async function cloneWorkspace(
  origin: Origin,
  opts: { depth?: number; branch?: string; dir?: string } = {}
): Promise<string> {
  const env = isolatedGitEnv(origin.home)
  const depth = opts.depth ?? 1
  const branch = opts.branch ?? (await originHeadBranch(origin))
  let dir: string
  if (opts.dir) {
    await mkdir(opts.dir, { recursive: true })
    dir = await realpath(opts.dir)
  } else {
    dir = path.join(await tempDir('workspace'), 'repo')
    await mkdir(dir)
  }
  await git(dir, ['init', '--quiet', `--initial-branch=${branch}`], env)
  await git(dir, ['remote', 'add', 'origin', origin.url], env)
  await git(dir, ['config', '--local', 'gc.auto', '0'], env)
  const fetch = ['-c', 'protocol.version=2', 'fetch', '--quiet', '--no-tags', '--prune']
  fetch.push('--no-recurse-submodules')
  if (depth > 0) {
    const listing = await git(dir, ['ls-remote', 'origin', `refs/heads/${branch}`], env)
    const sha = listing
      .split('\n')
      .map((line) => line.split('\t'))
      .find(([, ref]) => ref === `refs/heads/${branch}`)?.[0]
    if (!sha) throw new Error(`origin has no branch ${branch}`)
    fetch.push(`--depth=${depth}`, 'origin', `+${sha}:refs/remotes/origin/${branch}`)
  } else {
    fetch.push('origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*')
  }
  await git(dir, fetch, env)
  await git(
    dir,
    ['checkout', '--quiet', '--force', '-B', branch, `refs/remotes/origin/${branch}`],
    env
  )
  return dir
}

/**
 * Reproduces actions/checkout v6+ `persist-credentials: true` for `token`:
 * - writes `$RUNNER_TEMP/git-credentials-<uuid>.config` with
 *   `[http "https://github.com/"] extraheader = AUTHORIZATION: basic base64(x-access-token:<token>)`;
 * - adds to the workspace's .git/config `includeIf.gitdir:<workspace>/.git.path` and
 *   `includeIf.gitdir:<workspace>/.git/worktrees/*.path` pointing at it, plus checkout's container
 *   twins (`gitdir:/github/workspace/.git` → `/github/runner_temp/<file>`);
 * - and, the pre-v6 style, `http.https://github.com/.extraheader` directly in .git/config.
 */
export async function simulateCheckoutCredentials(
  workspace: string,
  runnerTemp: string,
  token: string
): Promise<{ credentialsFile: string }> {
  const dir = await realpath(workspace)
  const env = await defaultEnv()
  const header = `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64')}`
  const key = 'http.https://github.com/.extraheader'
  await mkdir(runnerTemp, { recursive: true })
  const credentialsFile = path.join(runnerTemp, `git-credentials-${randomUUID()}.config`)
  await git(dir, ['config', '--file', credentialsFile, key, header], env)

  const gitDir = path.join(dir, '.git')
  const containerFile = path.posix.join('/github/runner_temp', path.basename(credentialsFile))
  await git(dir, ['config', '--local', `includeIf.gitdir:${gitDir}.path`, credentialsFile], env)
  await git(
    dir,
    ['config', '--local', `includeIf.gitdir:${gitDir}/worktrees/*.path`, credentialsFile],
    env
  )
  await git(
    dir,
    ['config', '--local', 'includeIf.gitdir:/github/workspace/.git.path', containerFile],
    env
  )
  await git(
    dir,
    [
      'config',
      '--local',
      'includeIf.gitdir:/github/workspace/.git/worktrees/*.path',
      containerFile
    ],
    env
  )
  await git(dir, ['config', '--local', key, header], env)
  return { credentialsFile }
}
