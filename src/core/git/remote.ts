import type { Git } from './git.js'

/** Config that authenticates https remotes with a token, passed per call (never stored). */
export function tokenAuthConfig(token: string | undefined): Record<string, string> {
  if (!token) return {}
  const basic = Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64')
  return { 'http.extraheader': `AUTHORIZATION: basic ${basic}` }
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
  const shallow = await isShallow(git)
  await git.run(
    [
      'fetch',
      '--no-tags',
      '--no-recurse-submodules',
      '--no-auto-maintenance',
      ...(shallow ? ['--depth=1'] : []),
      remote,
      `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`
    ],
    { config: auth }
  )
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
  sha: string
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
  if (updates.length === 0) return []
  const args = ['push', '--porcelain', '--no-verify']
  for (const u of updates)
    args.push(`--force-with-lease=refs/heads/${u.branch}:${u.expected ?? ''}`)
  args.push(remote, ...updates.map((u) => `${u.sha}:refs/heads/${u.branch}`))
  const result = await git.run(args, { config: auth, okExitCodes: [1] })
  const lines = result.stdout.split('\n')
  return updates.map((u) => {
    const line = lines.find((l) => l.includes(`:refs/heads/${u.branch}\t`))
    if (!line) {
      const reason =
        result.stderr.trim().split('\n').slice(-3).join(' ') || 'no result from git push'
      return { branch: u.branch, ok: result.exitCode === 0, message: reason }
    }
    const [flag, , summary = ''] = line.split('\t')
    const serverSays = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('remote:') || l.includes(u.branch))
      .join(' ')
      .trim()
    const ok = flag !== '!'
    return {
      branch: u.branch,
      ok,
      message: ok ? summary : `${summary}${serverSays ? ` — ${serverSays}` : ''}`
    }
  })
}
