import { missingRemoteBranch } from './base-branch.js'
import { GitError, type Git } from './git.js'
import { pushLfsObjects, usesLfs } from './lfs.js'

/**
 * Config that authenticates requests to `remoteUrl` with a token, passed per call (never
 * stored). Keyed to the remote's exact URL: git lets the most specific `http.<url>.*` setting
 * win, so a generic `http.extraheader` would lose to the one actions/checkout persisted for
 * https://github.com/ and the wrong token would be used.
 */
export function tokenAuthConfig(
  token: string | undefined,
  remoteUrl: string
): Record<string, string> {
  if (!token || !/^https?:\/\//i.test(remoteUrl)) return {}
  const basic = Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64')
  return { [`http.${remoteUrl}.extraheader`]: `AUTHORIZATION: basic ${basic}` }
}

/**
 * tokenAuthConfig for other remotes (a submodule's) at the same place as `originUrl`: the same
 * scheme, host and port, so the token goes where it already goes for origin and nowhere else
 * (an http:// remote of an https:// origin's host would carry it in the clear). Other remotes
 * get nothing: `{}`.
 */
export function sameOriginAuth(
  token: string | undefined,
  originUrl: string
): (url: string) => Record<string, string> {
  const origin = webOrigin(originUrl)
  return (url) => (token && origin && webOrigin(url) === origin ? tokenAuthConfig(token, url) : {})
}

/** `scheme://host:port` of an http(s) URL; undefined for anything else (ssh, paths). */
function webOrigin(url: string): string | undefined {
  if (!/^https?:\/\//i.test(url)) return undefined
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/** The fetch URL of a remote. */
export async function remoteUrl(git: Git, remote: string): Promise<string> {
  return git.out(['remote', 'get-url', remote])
}

export async function isShallow(git: Git): Promise<boolean> {
  return (await git.out(['rev-parse', '--is-shallow-repository'])) === 'true'
}

/**
 * Fetches the tip of `branch` into refs/remotes/<remote>/<branch> and returns it. A shallow
 * workspace (actions/checkout's default) stays shallow: every task starts from this one commit,
 * so it is also every merge's base, and no history is needed.
 */
export async function fetchBranch(
  git: Git,
  remote: string,
  branch: string,
  auth: Record<string, string>
): Promise<string> {
  await fetchRefs(git, remote, [branch], auth, 1).catch(async (error: unknown) => {
    if (error instanceof GitError && /couldn't find remote ref/i.test(error.result.stderr))
      throw await missingRemoteBranch(git, remote, branch, auth)
    throw error
  })
  return git.out(['rev-parse', '--verify', `refs/remotes/${remote}/${branch}^{commit}`])
}

/** Branches under `prefix/` on the remote, with their tips. */
export async function listRemoteBranches(
  git: Git,
  remote: string,
  prefix: string,
  auth: Record<string, string>
): Promise<Map<string, string>> {
  const out = await git.out(['ls-remote', '--heads', remote, `refs/heads/${prefix}/*`], {
    config: auth
  })
  const branches = new Map<string, string>()
  for (const line of out.split('\n').filter(Boolean)) {
    const [sha, ref] = line.split('\t')
    const name = ref.replace(/^refs\/heads\//, '')
    if (name.startsWith(`${prefix}/`)) branches.set(name, sha)
  }
  return branches
}

export interface BranchUpdate {
  branch: string
  /** New tip; null deletes the branch. */
  sha: string | null
  /** What the remote held when this run looked (undefined: it did not exist). */
  expected: string | undefined
}

export interface PushOutcome {
  branch: string
  ok: boolean
  /** git's summary for the ref (e.g. "[new branch]", "stale info", the server's message). */
  message: string
}

/**
 * Pushes all updates in one `git push`, each guarded by --force-with-lease against the tip
 * this run saw: a branch someone else moved meanwhile is reported, not overwritten.
 * Not atomic on purpose: a protected integration branch must not stop task branches (the
 * agents' work) from being saved.
 */
export async function pushBranches(
  git: Git,
  remote: string,
  updates: BranchUpdate[],
  auth: Record<string, string>
): Promise<PushOutcome[]> {
  const outcomes = await pushRefs(
    git,
    remote,
    updates.map((u) => ({ ...u, ref: `refs/heads/${u.branch}` })),
    auth
  )
  return outcomes.map((o, i) => ({ ...o, branch: updates[i].branch }))
}

/** pushBranches for any ref (full names, e.g. refs/notes/...). `branch` in the outcome is the ref. */
export async function pushRefs(
  git: Git,
  remote: string,
  updates: (Omit<BranchUpdate, 'branch'> & { ref: string })[],
  auth: Record<string, string>
): Promise<PushOutcome[]> {
  if (updates.length === 0) return []
  // Hooks are off, so git-lfs's pre-push does not run: its objects go first, here.
  const commits = updates.flatMap((u) => (u.sha ? [u.sha] : []))
  if (await usesLfs(git, ...commits)) {
    const lfsFailed = await pushLfsObjects(git, remote, commits, auth)
    if (lfsFailed) return updates.map((u) => ({ branch: u.ref, ok: false, message: lfsFailed }))
  }
  const args = ['push', '--porcelain', '--no-verify']
  for (const u of updates) args.push(`--force-with-lease=${u.ref}:${u.expected ?? ''}`)
  args.push(remote, ...updates.map((u) => `${u.sha ?? ''}:${u.ref}`))
  const result = await git.run(args, { config: auth, okExitCodes: [1] })
  const lines = result.stdout.split('\n')
  return updates.map((u) => {
    const line = lines.find((l) => l.includes(`:${u.ref}\t`))
    if (!line) {
      const reason =
        result.stderr.trim().split('\n').slice(-3).join(' ') || 'no result from git push'
      return { branch: u.ref, ok: result.exitCode === 0, message: reason }
    }
    const [flag, , summary = ''] = line.split('\t')
    const name = u.ref.replace(/^refs\/heads\//, '')
    const serverSays = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('remote:') || l.includes(name))
      .join(' ')
      .trim()
    const ok = flag !== '!'
    return {
      branch: u.ref,
      ok,
      message: ok ? summary : `${summary}${serverSays ? ` — ${serverSays}` : ''}`
    }
  })
}

/** Refs on the remote matching `pattern` (a full ref name, `*` allowed), with their tips. */
export async function listRemoteRefs(
  git: Git,
  remote: string,
  pattern: string,
  auth: Record<string, string>
): Promise<Map<string, string>> {
  const out = await git.out(['ls-remote', remote, pattern], { config: auth })
  const refs = new Map<string, string>()
  for (const line of out.split('\n').filter(Boolean)) {
    const [sha, ref] = line.split('\t')
    refs.set(ref, sha)
  }
  return refs
}

/** Fetches refs under their own names (notes, for example): `+<ref>:<ref>` for each. */
export async function fetchOwnRefs(
  git: Git,
  remote: string,
  refs: string[],
  auth: Record<string, string>
): Promise<void> {
  if (refs.length > 0)
    await fetchRefspecs(
      git,
      remote,
      refs.map((r) => `+${r}:${r}`),
      auth,
      1
    )
}

/** Fetches branches into refs/remotes/<remote>/ (objects for tasks reused from earlier runs). */
export async function fetchBranches(
  git: Git,
  remote: string,
  branches: string[],
  auth: Record<string, string>
): Promise<void> {
  if (branches.length > 0) await fetchRefs(git, remote, branches, auth, 50)
}

/** One fetch of `branches`; in a shallow clone, `shallowDepth` commits deep (it stays shallow). */
async function fetchRefs(
  git: Git,
  remote: string,
  branches: string[],
  auth: Record<string, string>,
  shallowDepth: number
): Promise<void> {
  const refspecs = branches.map((b) => `+refs/heads/${b}:refs/remotes/${remote}/${b}`)
  await fetchRefspecs(git, remote, refspecs, auth, shallowDepth)
}

async function fetchRefspecs(
  git: Git,
  remote: string,
  refspecs: string[],
  auth: Record<string, string>,
  shallowDepth: number
): Promise<void> {
  const shallow = await isShallow(git)
  await git.run(
    [
      'fetch',
      '--no-tags',
      '--no-recurse-submodules',
      '--no-auto-maintenance',
      ...(shallow ? [`--depth=${shallowDepth}`] : []),
      remote,
      ...refspecs
    ],
    { config: auth }
  )
}

/**
 * Makes sure `base` and each tip share history locally, deepening a shallow clone as needed
 * (never --allow-unrelated-histories: that turns every file into an add/add conflict).
 */
export async function ensureMergeBases(
  git: Git,
  remote: string,
  base: { branch: string; sha: string },
  tips: { branch: string; sha: string }[],
  auth: Record<string, string>
): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const missing: { branch: string; sha: string }[] = []
    for (const tip of tips) {
      if (!(await git.test(['merge-base', base.sha, tip.sha]))) missing.push(tip)
    }
    if (missing.length === 0 || !(await isShallow(git))) return
    const refspecs = [base, ...missing].map(
      (r) => `+refs/heads/${r.branch}:refs/remotes/${remote}/${r.branch}`
    )
    const depth = round < 4 ? [`--deepen=${100 * 4 ** round}`] : ['--unshallow']
    await git.run(['fetch', '--no-tags', '--no-auto-maintenance', ...depth, remote, ...refspecs], {
      config: auth
    })
  }
}
