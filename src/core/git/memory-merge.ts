import { createHash, randomBytes } from 'node:crypto'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { deflateSync } from 'node:zlib'
import type { Git } from './git.js'
import { surveyTips, type TipSurvey } from './tips.js'

interface Entry {
  mode: string
  oid: string
}

interface Change {
  path: string
  mode: string
  oid: string
}

interface TipInfo {
  /** Commits reachable from the tip but not from the base (empty when unusable). */
  commits: string[]
  /** Blob/gitlink changes from the base to the tip; undefined when not a plain addition/edit. */
  changes?: Change[]
}

/** A merge computed here: the commit (already in the object store) and what it changes. */
export interface MemoryMergeResult {
  commit: string
  tree: string
  /** Internal: the state after this merge, applied by advance(). */
  readonly next: {
    dirs: Map<string, Map<string, Entry>>
    paths: string[]
    commits: string[]
  }
}

const TREE_MODE = '40000'

/**
 * Merges task branches into the integration branch without a git process per merge, for the
 * case that is nearly every fan-out: each task only adds or edits files that no task merged
 * before it touched, on top of the base commit.
 *
 * Under those conditions `git merge-tree --write-tree` (merge-ort) has nothing to decide: the
 * merge base is the base commit (no task's own commits are in the integration history), there
 * is no content merge (no path changed on both sides), no rename or directory-rename detection
 * (that needs a deleted path on a side), and no file/directory clash (checked). Its result is
 * then the base tree with every task's changes applied, which is computed here in memory; trees
 * and merge commits (the exact bytes `git commit-tree` writes) go to the object store as loose
 * objects. Everything else returns undefined, and the caller merges with git as before.
 *
 * It costs six git processes for the whole integration (five of them at once) instead of two
 * per task.
 */
export class MemoryMerger {
  /** The commit this merger's state stands for: the base plus every task advanced so far. */
  head: string
  private readonly claimedPaths = new Set<string>()
  private readonly claimedDirs = new Set<string>()
  private readonly mergedCommits = new Set<string>()
  private readonly fanoutDirs = new Set<string>()
  private pendingWrites: Promise<void>[] = []
  private writeFailure: unknown

  private constructor(
    private readonly objectsDir: string,
    private readonly idents: { author: string; committer: string },
    private readonly tips: Map<string, TipInfo>,
    /** Directory path ('' for the root) to its entries, for every directory a task touches. */
    private dirs: Map<string, Map<string, Entry>>,
    baseSha: string
  ) {
    this.head = baseSha
  }

  /** Reads what the merges need in one go; undefined when this repository is not supported. */
  static async prepare(
    git: Git,
    baseSha: string,
    tips: readonly string[],
    /** surveyTips() of these tips, when the caller has it already (the engine does). */
    known?: ReadonlyMap<string, TipSurvey>
  ): Promise<MemoryMerger | undefined> {
    const unique = [...new Set(tips)].filter((tip) => tip !== baseSha)
    if (unique.length === 0) return undefined
    const missing = unique.filter((tip) => !known?.has(tip))
    // Independent reads, all at once: spawning is most of their cost.
    const [head, vars, surveyed, rootListing] = await Promise.all([
      git.out(['rev-parse', '--show-object-format', '--git-path', 'objects']),
      git.out(['var', '-l']),
      missing.length ? surveyTips(git, baseSha, missing) : new Map<string, TipSurvey>(),
      git.out(['ls-tree', '-z', baseSha])
    ])
    const [format, objects] = head.split('\n')
    if (format !== 'sha1') return undefined
    const variable = (name: string): string | undefined =>
      vars
        .split('\n')
        .find((line) => line.startsWith(`${name}=`))
        ?.slice(name.length + 1)
    const author = variable('GIT_AUTHOR_IDENT')
    const committer = variable('GIT_COMMITTER_IDENT')
    const encoding = variable('i18n.commitencoding')
    if (!author || !committer || (encoding && !/^utf-?8$/i.test(encoding))) return undefined

    // A tip must sit on the base, and only add, edit or change the type of files: a deletion
    // could be half a rename.
    const infos = new Map<string, TipInfo>()
    for (const tip of unique) {
      const survey = known?.get(tip) ?? surveyed.get(tip)
      const usable =
        survey?.descends &&
        survey.changes.every(
          (change) => ['A', 'M', 'T'].includes(change.status) && usablePath(change.path)
        )
      infos.set(tip, {
        commits: survey?.descends ? survey.commits : [],
        changes: usable
          ? survey.changes.map(({ path, mode, oid }) => ({ path, mode, oid }))
          : undefined
      })
    }

    // The base's entries of every directory an addition or edit lands in.
    const touched = new Set<string>()
    for (const info of infos.values())
      for (const change of info.changes ?? [])
        for (const dir of parents(change.path)) touched.add(dir)
    if (touched.size === 0) return undefined
    const dirs = new Map<string, Map<string, Entry>>([['', new Map()]])
    const listings = [rootListing]
    const tops = [...new Set([...touched].filter(Boolean).map((d) => d.split('/')[0]))]
    if (tops.length) {
      listings.push(
        await git.out(['ls-tree', '-r', '-t', '-z', baseSha, '--', ...tops], {
          env: { GIT_LITERAL_PATHSPECS: '1' }
        })
      )
    }
    for (const listing of listings) {
      for (const record of listing.split('\0').filter(Boolean)) {
        const tab = record.indexOf('\t')
        const [mode, type, oid] = record.slice(0, tab).split(' ')
        const name = record.slice(tab + 1)
        if (!usablePath(name)) return undefined
        const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : ''
        if (!dirs.has(parent)) dirs.set(parent, new Map())
        dirs.get(parent)!.set(basename(name), { mode: type === 'tree' ? TREE_MODE : mode, oid })
        if (type === 'tree' && !dirs.has(name)) dirs.set(name, new Map())
      }
    }
    return new MemoryMerger(
      path.resolve(git.repoDir, objects),
      { author, committer },
      infos,
      dirs,
      baseSha
    )
  }

  /**
   * The merge commit of `tip` onto `head` with `message`, written to the object store, or
   * undefined when git has to compute this merge. Changes nothing until advance().
   */
  async merge(tip: string, message: string): Promise<MemoryMergeResult | undefined> {
    const info = this.tips.get(tip)
    if (!info?.changes || info.changes.length === 0) return undefined
    if (info.commits.some((c) => this.mergedCommits.has(c))) return undefined
    for (const change of info.changes) {
      if (this.claimedPaths.has(change.path) || this.claimedDirs.has(change.path)) return undefined
      if (parents(change.path).some((dir) => this.claimedPaths.has(dir))) return undefined
    }
    // Copy-on-write of every directory on the way to a changed path.
    const next = new Map<string, Map<string, Entry>>()
    const edit = (dir: string): Map<string, Entry> => {
      let entries = next.get(dir)
      if (!entries) {
        entries = new Map(this.dirs.get(dir) ?? [])
        next.set(dir, entries)
      }
      return entries
    }
    for (const change of info.changes) {
      const dir = parents(change.path).at(-1)!
      const existing = this.dirs.get(dir)?.get(basename(change.path))
      // A directory where the task has a file (or the reverse) is git's business.
      if (existing?.mode === TREE_MODE || change.mode === TREE_MODE) return undefined
      edit(dir).set(basename(change.path), { mode: change.mode, oid: change.oid })
    }
    for (const change of info.changes) for (const dir of parents(change.path)) edit(dir)
    // Trees bottom-up: deepest directories first, each one's id set in its parent.
    const order = [...next.keys()].sort((a, b) => depth(b) - depth(a))
    let tree = ''
    for (const dir of order) {
      const body = serializeTree(next.get(dir)!)
      const oid = hashObject('tree', body)
      this.inBackground(this.write('tree', body, oid))
      if (dir === '') tree = oid
      else {
        const parentEntries = next.get(parents(dir).at(-1)!)!
        const existing = parentEntries.get(basename(dir))
        if (existing && existing.mode !== TREE_MODE) return undefined
        parentEntries.set(basename(dir), { mode: TREE_MODE, oid })
      }
    }
    const commitBody = Buffer.from(
      `tree ${tree}\nparent ${this.head}\nparent ${tip}\nauthor ${this.idents.author}\ncommitter ${this.idents.committer}\n\n${message}`
    )
    const commit = hashObject('commit', commitBody)
    // The commit may be in the store before its trees for a moment: nothing refers to it yet.
    this.inBackground(this.write('commit', commitBody, commit))
    return {
      commit,
      tree,
      next: { dirs: next, paths: info.changes.map((c) => c.path), commits: info.commits }
    }
  }

  /**
   * Objects are written in the background and flushed before anything reads them (flush()).
   * Each write is tracked from its start, so one begun for a merge that then turned out to be
   * git's business (an early return) is neither lost nor an unhandled rejection.
   */
  private inBackground(write: Promise<void>): void {
    this.pendingWrites.push(
      write.catch((error: unknown) => {
        this.writeFailure ??= error
      })
    )
  }

  /**
   * Resolves once every object merge() produced is in the object store; rejects if one could
   * not be written. Call it before git reads any of them (a checkout, a merge by git, a ref).
   */
  async flush(): Promise<void> {
    const pending = this.pendingWrites
    this.pendingWrites = []
    await Promise.all(pending)
    if (this.writeFailure) throw this.writeFailure
  }

  /** Takes a merge from merge() as the new head (after the caller accepted it). */
  advance(result: MemoryMergeResult): void {
    for (const [dir, entries] of result.next.dirs) this.dirs.set(dir, entries)
    for (const file of result.next.paths) {
      this.claimedPaths.add(file)
      for (const dir of parents(file)) this.claimedDirs.add(dir)
    }
    for (const commit of result.next.commits) this.mergedCommits.add(commit)
    this.head = result.commit
  }

  /** A loose object, as git writes one: zlib of "<type> <size>\0<body>", named by its SHA-1. */
  private async write(type: string, body: Buffer, oid: string): Promise<void> {
    const dir = path.join(this.objectsDir, oid.slice(0, 2))
    if (!this.fanoutDirs.has(dir)) {
      await mkdir(dir, { recursive: true })
      this.fanoutDirs.add(dir)
    }
    const tmp = path.join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`)
    await writeFile(tmp, deflateSync(Buffer.concat([objectHeader(type, body), body])), {
      mode: 0o444
    })
    // Same name, same content: replacing a copy that is already there is harmless.
    await rename(tmp, path.join(dir, oid.slice(2)))
  }
}

function objectHeader(type: string, body: Buffer): Buffer {
  return Buffer.from(`${type} ${body.length}\0`)
}

function hashObject(type: string, body: Buffer): string {
  return createHash('sha1').update(objectHeader(type, body)).update(body).digest('hex')
}

/** git's tree order: by name bytes, a directory's name compared as if it ended in "/". */
function serializeTree(entries: Map<string, Entry>): Buffer {
  const sorted = [...entries].map(([name, entry]) => ({
    name,
    entry,
    key: Buffer.from(entry.mode === TREE_MODE ? `${name}/` : name)
  }))
  sorted.sort((a, b) => Buffer.compare(a.key, b.key))
  return Buffer.concat(
    sorted.flatMap(({ name, entry }) => [
      Buffer.from(`${entry.mode} ${name}\0`),
      Buffer.from(entry.oid, 'hex')
    ])
  )
}

/** '' (the root) and every directory above a path, outermost first: a/b/c -> ['', 'a', 'a/b']. */
function parents(file: string): string[] {
  const parts = file.split('/')
  const dirs = ['']
  for (let i = 1; i < parts.length; i++) dirs.push(parts.slice(0, i).join('/'))
  return dirs
}

function basename(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}

function depth(dir: string): number {
  return dir === '' ? 0 : dir.split('/').length
}

/** Paths git printed that survive the trip through UTF-8 text unchanged. */
function usablePath(file: string | undefined): boolean {
  return !!file && !file.includes('\uFFFD')
}
