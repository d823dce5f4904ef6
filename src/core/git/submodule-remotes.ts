import { appendFile, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Git, GitRunOptions } from './git.js'

/**
 * Whether a submodule's remote has a commit: the question behind "may this gitlink be merged"
 * (submodules.ts). Asked of the module store's remote-tracking branches first (no network),
 * then of the remote itself, once.
 *
 * The question is asked from a scratch repository of our own that borrows the store's objects
 * (alternates, whose refs git also tells the remote it has, so only what is new is downloaded),
 * never by a fetch in the store: the store's config is shared with the agents, and this runs
 * after them, next to the merge (a planted `core.sshCommand` or `core.fsmonitor` would run
 * there; a planted `http.proxy`, `url.*.insteadOf` or `sslVerify=false` would send a token
 * elsewhere). A private remote needs credentials: the caller's `remoteAuth` gives them per URL
 * (the action gives its token to remotes on origin's host: remote.ts), written into the scratch
 * repository's own config.
 *
 * A remote that cannot be asked (authentication, network) is an answer of its own: the commit
 * may well be there, so nobody is told it is not.
 */

/** Config that authenticates git to a remote URL; `{}` for none. */
export type RemoteAuth = (url: string) => Record<string, string>

export type RemoteAnswer =
  | { has: boolean; url: string }
  /** The remote could not be asked: git's own words. */
  | { unknown: string; url: string }

export async function remoteHas(
  git: Git,
  store: string,
  sha: string,
  remoteAuth?: RemoteAuth
): Promise<RemoteAnswer> {
  const at = { env: { GIT_DIR: store } }
  const name = await defaultRemote(git, store)
  const url = await git.out(['remote', 'get-url', name], at).catch(() => '')
  const shown = redactUrl(url) || 'its remote'
  if (await trackedContains(git, at, sha)) return { has: true, url: shown }
  if (!url) return { unknown: `the module store ${store} names no remote`, url: shown }
  const fetched = await askApart(git, store, url, sha, remoteAuth?.(url) ?? {})
  return 'failed' in fetched
    ? { unknown: fetched.failed, url: shown }
    : { has: fetched.has, url: shown }
}

/** A fetch of `url`'s branches, with any credentials, from a scratch repository (see above). */
async function askApart(
  git: Git,
  store: string,
  url: string,
  sha: string,
  auth: Record<string, string>
): Promise<{ has: boolean } | { failed: string }> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'agent-fanout-submodule-'))
  try {
    await git.run(['init', '--quiet', '--bare', '--template=', scratch])
    await writeFile(
      path.join(scratch, 'objects', 'info', 'alternates'),
      `${path.resolve(store, 'objects')}\n`
    )
    // The credentials go in the scratch repository's own config (0600, in a 0700 directory,
    // gone after this fetch): never in a process's environment or command line, which another
    // process of the user (an agent still running) can read.
    await appendFile(path.join(scratch, 'config'), configText(auth), { mode: 0o600 })
    await chmod(path.join(scratch, 'config'), 0o600)
    const at = { env: { GIT_DIR: scratch } }
    const fetched = await git.run(
      [
        'fetch',
        '--quiet',
        '--no-tags',
        '--no-recurse-submodules',
        '--no-auto-maintenance',
        '--no-write-fetch-head',
        url,
        '+refs/heads/*:refs/remotes/origin/*'
      ],
      { ...at, okExitCodes: [1, 128] }
    )
    if (fetched.exitCode !== 0) return { failed: gitSays(fetched.stderr) }
    return { has: await trackedContains(git, at, sha) }
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/**
 * `section.sub.section.name = value` settings as git config file text. An extraheader starts
 * with an empty value, which drops any a global config gave (two Authorization headers on one
 * request would be refused).
 */
export function configText(config: Record<string, string>): string {
  const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  let text = ''
  for (const [key, value] of Object.entries(config)) {
    if (/[\n\r\0]/.test(key + value)) throw new Error(`config ${key}: a line break is not allowed`)
    const section = key.slice(0, key.indexOf('.'))
    const name = key.slice(key.lastIndexOf('.') + 1)
    const sub = key.slice(section.length + 1, key.length - name.length - 1)
    text += `[${section}${sub ? ` ${quote(sub)}` : ''}]\n`
    if (/extraheader$/i.test(name)) text += `\t${name} =\n`
    text += `\t${name} = ${quote(value)}\n`
  }
  return text
}

/** Whether a remote-tracking branch of the repository at `at` contains `sha`. */
async function trackedContains(git: Git, at: GitRunOptions, sha: string): Promise<boolean> {
  if (!(await git.test(['cat-file', '-e', `${sha}^{commit}`], at))) return false
  const refs = await git.out(
    ['for-each-ref', '--count=1', '--contains', sha, '--format=%(refname)', 'refs/remotes/'],
    at
  )
  return refs !== ''
}

/** The remote a module store fetches from: origin, else its first. */
export async function defaultRemote(git: Git, store: string): Promise<string> {
  const remotes = await git.out(['remote'], { env: { GIT_DIR: store } }).catch(() => '')
  const list = remotes.split('\n').filter(Boolean)
  return list.includes('origin') ? 'origin' : (list[0] ?? 'origin')
}

/** git's last words on a failure (its fatal line, mostly), without credentials in URLs. */
function gitSays(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const fatal = lines.filter((l) => /^(fatal|error):/i.test(l))
  return redactUrl((fatal.length ? fatal : lines).slice(-2).join(' ')) || 'git fetch failed'
}

/** A URL as it may be shown: a user:password part is replaced. */
export function redactUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
}
