import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Git, GitRunOptions } from './git.js'
import { surveyTips, type TipSurvey } from './tips.js'

/**
 * Makes `git merge-tree` pick merge drivers (`merge=union`, `binary`, `merge=<custom>`) from the
 * .gitattributes of the branch being merged into, as `git merge --no-ff` on that branch would.
 *
 * `git merge` reads .gitattributes from the work tree it runs in, which is a checkout of "ours"
 * (plus $GIT_DIR/info/attributes and the user's global attributes file). merge-tree reads them
 * from the work tree too, but the work tree of the repository it runs in is whatever the
 * workspace has checked out: another branch, or the base before a task changed its attributes.
 * git 2.39 has no way to point it elsewhere (`--attr-source` came in 2.40, `attr.tree` in 2.42),
 * and merge-tree does not read the index at all (tried: a private GIT_INDEX_FILE holding ours
 * changes nothing). So merges run with a private work tree that holds only ours' .gitattributes
 * files, at their paths: git then reads exactly those, plus info/attributes and the global file
 * as it always does. One mechanism on every git version keeps what is tested here what runs on
 * a runner with a newer git.
 *
 * What it costs, only once a merge by git onto a moved integration branch happens (the merges
 * done in memory and the first merge onto the base itself do not depend on attributes): one
 * `ls-tree` of the base (about 30 ms for 50,000 files) and a `cat-file` for its few attribute
 * files. After that, a merge can change the integration branch's attribute files only if its
 * task changes one, holds commits merged before, or (while ours has one where the base has
 * none) deletes a file, which can make a directory rename carry it along; for any other task
 * (nearly all) nothing is asked. After one that may, the next merge by git first brings the
 * private copy up to date with one `diff-tree`.
 */
export class MergeAttributes {
  private setup: Promise<{ root: string; tree: string; env: NodeJS.ProcessEnv }> | undefined
  /** The commit whose attribute files the private work tree holds. */
  private synced: string
  /** The newest integration commit known to have the same attribute files as `synced`. */
  private same: string
  /** A merge since `same` may have changed the attribute files. */
  private stale = false
  /** The private work tree holds an attribute file at a path where the base has none. */
  private diverged = false
  /** Paths of the attribute files the private work tree holds, and those of the base. */
  private readonly held = new Set<string>()
  private readonly baseHeld = new Set<string>()
  /** Merges taken since the last look, in order. */
  private pending: { commit: string; tip: string; how: 'task' | 'rerun' | 'resolve' }[] = []
  /** What each tip changes against the base, as far as known. */
  private readonly surveys: Map<string, TipSurvey>
  /** Commits of the tasks merged so far (a tip holding one again is not judged by its survey). */
  private readonly mergedCommits = new Set<string>()

  constructor(
    private readonly git: Git,
    private readonly baseSha: string,
    /** The tips that may be merged (those not in `known` are surveyed once, when needed). */
    private readonly tips: readonly string[],
    /** surveyTips() of task tips against the base, where the caller has it. */
    known: ReadonlyMap<string, TipSurvey> = new Map()
  ) {
    this.surveys = new Map(known)
    this.synced = baseSha
    this.same = baseSha
  }

  /**
   * The integration branch moved to `commit` by merging `tip`: a task's own branch, a re-run's
   * (made on the integration branch: judged by what git finds), or a merge a resolve command
   * made (it may have changed anything).
   */
  merged(commit: string, tip: string, how: 'task' | 'rerun' | 'resolve' = 'task'): void {
    this.pending.push({ commit, tip, how })
  }

  /** Options under which `git merge-tree <ours> <theirs>` uses ours' attributes. */
  async forMerge(ours: string, theirs: string): Promise<GitRunOptions> {
    // Onto the base itself only the task's side changed anything: no content merge, no driver.
    if (ours === this.baseSha && this.surveys.get(theirs)?.descends) return {}
    const setup = await this.prepare()
    for (const { commit, tip, how } of this.pending.splice(0)) {
      if (!this.stale && how === 'task' && this.keepsAttributes(tip)) this.same = commit
      else this.stale = true
      for (const c of this.surveys.get(tip)?.commits ?? []) this.mergedCommits.add(c)
    }
    if (ours !== this.synced) {
      if (!this.stale && ours === this.same) this.synced = ours
      else await this.sync(setup.tree, ours)
    }
    return { cwd: setup.tree, env: setup.env }
  }

  /**
   * Whether merging `tip` leaves the attribute files as they were: the merge changes ours only
   * where the tip differs from the merge base, plus what renames carry along. With a tip that
   * descends from the base and holds no commit merged before, the merge base is the base, so
   * that is where the tip differs from the base (its survey). Renames need a deletion on the
   * tip's side; one moves an attribute file the tip does not name only when a directory rename
   * carries along a file ours added, so deletions count only while ours has an attribute file
   * where the base has none. Unknown tips count as changing them.
   */
  private keepsAttributes(tip: string): boolean {
    const survey = this.surveys.get(tip)
    return (
      !!survey?.descends &&
      !survey.commits.some((c) => this.mergedCommits.has(c)) &&
      survey.changes.every((c) => !isAttributesFile(c.path) && (c.status !== 'D' || !this.diverged))
    )
  }

  /** Removes the private work tree. */
  async dispose(): Promise<void> {
    const setup = this.setup
    this.setup = undefined
    if (setup) {
      const { root } = await setup.catch(() => ({ root: undefined }))
      if (root) await rm(root, { recursive: true, force: true })
    }
  }

  private prepare(): Promise<{ root: string; tree: string; env: NodeJS.ProcessEnv }> {
    this.setup ??= (async () => {
      const root = await mkdtemp(path.join(os.tmpdir(), 'agent-fanout-attributes-'))
      try {
        const tree = path.join(root, 'tree')
        const unknown = this.tips.filter((tip) => !this.surveys.has(tip))
        const [gitDir, listing, surveyed] = await Promise.all([
          this.git.out(['rev-parse', '--absolute-git-dir']),
          this.git.bytes(['ls-tree', '-r', '-z', '--full-tree', this.baseSha]),
          // What each task changes decides whether its merge can change the attributes: asked
          // once for all tips the caller did not survey (tasks reused from an earlier run).
          // A tip left unknown counts as changing them: never a wrong "unchanged".
          unknown.length
            ? surveyTips(this.git, this.baseSha, unknown).catch(() => new Map<string, TipSurvey>())
            : new Map<string, TipSurvey>(),
          mkdir(tree)
        ])
        for (const [tip, survey] of surveyed) this.surveys.set(tip, survey)
        await this.write(tree, parseListing(listing))
        for (const file of this.held) this.baseHeld.add(file)
        const env = {
          GIT_DIR: gitDir,
          GIT_WORK_TREE: tree,
          // No index: merge-tree reads none today; if a git ever did, it must not find the
          // workspace's (a checkout of some other branch) to fall back on.
          GIT_INDEX_FILE: path.join(root, 'no-index')
        }
        return { root, tree, env }
      } catch (error) {
        await rm(root, { recursive: true, force: true })
        throw error
      }
    })()
    return this.setup
  }

  /** Brings the private work tree from `this.synced` to `commit`. */
  private async sync(tree: string, commit: string): Promise<void> {
    const diff = await this.git.bytes([
      'diff-tree',
      '-r',
      '-z',
      '--no-renames',
      this.synced,
      commit
    ])
    // ":<old mode> <new mode> <old oid> <new oid> <status>" NUL "<path>" NUL, per change.
    const entries: AttributeEntry[] = []
    const fields = splitNul(diff)
    for (let i = 0; i < fields.length; i++) {
      if (fields[i][0] !== 0x3a) continue
      const [, mode, , oid] = fields[i].toString('latin1').slice(1).split(' ')
      const file = fields[++i]
      if (file && isAttributesFile(file.toString('latin1'))) entries.push({ mode, oid, file })
    }
    await this.write(tree, entries)
    this.synced = commit
    this.same = commit
    this.stale = false
    this.diverged = [...this.held].some((file) => !this.baseHeld.has(file))
  }

  /**
   * Writes each entry's blob at its path under `tree` (removing the file for anything that
   * is not a regular file: git does not read symlinked or missing .gitattributes).
   */
  private async write(tree: string, entries: AttributeEntry[]): Promise<void> {
    const safe = entries
      .map((e) => ({ ...e, target: safeTarget(tree, e.file) }))
      .filter((e): e is typeof e & { target: Buffer } => e.target !== undefined)
    const blobs = safe.filter((e) => e.mode === '100644' || e.mode === '100755')
    const contents = blobs.length
      ? splitBatch(
          await this.git.bytes(['cat-file', '--batch'], {
            stdin: blobs.map((e) => `${e.oid}\n`).join('')
          })
        )
      : []
    for (const entry of safe) {
      // (A path that ran through what is now a file is gone already.)
      await rm(entry.target, { recursive: true, force: true }).catch(() => undefined)
      const index = blobs.indexOf(entry)
      this.held.delete(entry.file.toString('latin1'))
      if (index < 0) continue
      this.held.add(entry.file.toString('latin1'))
      await mkdir(entry.target.subarray(0, entry.target.lastIndexOf(0x2f)), { recursive: true })
      await writeFile(entry.target, contents[index])
    }
  }
}

interface AttributeEntry {
  mode: string
  oid: string
  /** The path as git printed it (bytes: paths need not be UTF-8). */
  file: Buffer
}

/** A path git reads attributes from: `.gitattributes` at the root or in any directory. */
export function isAttributesFile(file: string): boolean {
  return file === '.gitattributes' || file.endsWith('/.gitattributes')
}

/** The attribute files of an `ls-tree -r -z` listing. */
function parseListing(listing: Buffer): AttributeEntry[] {
  const entries: AttributeEntry[] = []
  for (const record of splitNul(listing)) {
    const tab = record.indexOf(0x09)
    if (tab < 0) continue
    const file = record.subarray(tab + 1)
    if (!isAttributesFile(file.toString('latin1'))) continue
    const [mode, , oid] = record.subarray(0, tab).toString('latin1').split(' ')
    entries.push({ mode, oid, file })
  }
  return entries
}

/**
 * Where `file` goes under `tree` (as bytes: paths need not be UTF-8), or undefined for a path
 * git would never check out (empty, `.` or `..` components, `.git`): trees made by hand can
 * hold such names, and nothing may be written outside the private work tree.
 */
function safeTarget(tree: string, file: Buffer): Buffer | undefined {
  const parts = file.toString('latin1').split('/')
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.toLowerCase() === '.git'))
    return undefined
  return Buffer.concat([Buffer.from(`${tree}/`), file])
}

export function splitNul(buffer: Buffer): Buffer[] {
  const fields: Buffer[] = []
  let start = 0
  for (let i = buffer.indexOf(0); i >= 0; i = buffer.indexOf(0, start)) {
    fields.push(buffer.subarray(start, i))
    start = i + 1
  }
  if (start < buffer.length) fields.push(buffer.subarray(start))
  return fields
}

/** `cat-file --batch` output: "<oid> <type> <size>\n<content>\n" per object, in order. */
export function splitBatch(output: Buffer): Buffer[] {
  const contents: Buffer[] = []
  let at = 0
  while (at < output.length) {
    const eol = output.indexOf(0x0a, at)
    if (eol < 0) break
    const header = output.subarray(at, eol).toString('latin1').split(' ')
    if (header[1] === 'missing' || header.length < 3) {
      contents.push(Buffer.alloc(0))
      at = eol + 1
      continue
    }
    const size = Number(header[2])
    contents.push(output.subarray(eol + 1, eol + 1 + size))
    at = eol + 1 + size + 1
  }
  return contents
}
