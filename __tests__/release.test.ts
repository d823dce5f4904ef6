// The release steps (scripts/release.mjs, run by .github/workflows/release.yml on a version tag)
// against real git: a bare origin and a full clone, as the workflow's checkout (fetch-depth: 0).
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  type Origin
} from '../test-support/git-fixtures.js'
import { REPO_ROOT } from '../test-support/run-action.js'

afterAll(removeTempDirs)

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'release.mjs')

const changelog = (...versions: string[]) =>
  [
    '# Changelog',
    '',
    '## [Unreleased]',
    '',
    ...versions.flatMap((v) => [`## [${v}] - 2026-11-29`, '', `- what ${v} brought`, '']),
    '[Unreleased]: https://github.com/o/r/compare/v1.0.0...HEAD'
  ].join('\n')

interface Repo {
  origin: Origin
  dir: string
  env: NodeJS.ProcessEnv
}

async function repo(): Promise<Repo> {
  const origin = await createOrigin({
    'package.json': JSON.stringify({ name: 'x', version: '1.0.0' }),
    'CHANGELOG.md': changelog('1.0.0')
  })
  const dir = await cloneWorkspace(origin, { depth: 0 })
  return { origin, dir, env: isolatedGitEnv(origin.home) }
}

/** Commits a release's package.json and changelog on the checked-out branch, tags and pushes. */
async function release(r: Repo, version: string, versions: string[]): Promise<string> {
  await writeFile(path.join(r.dir, 'package.json'), JSON.stringify({ name: 'x', version }))
  await writeFile(path.join(r.dir, 'CHANGELOG.md'), changelog(...versions))
  await git(r.dir, ['commit', '--quiet', '--all', '-m', `Release ${version}`], r.env)
  return tag(r, `v${version}`)
}

async function tag(r: Repo, name: string, at = 'HEAD'): Promise<string> {
  await git(r.dir, ['tag', name, at], r.env)
  await git(r.dir, ['push', '--quiet', 'origin', 'HEAD', `refs/tags/${name}`], r.env)
  return git(r.dir, ['rev-parse', `${name}^{commit}`], r.env)
}

function run(
  r: Repo,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT, ...args],
      { cwd: r.dir, env: r.env },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
    )
  })
}

const remoteTag = (r: Repo, name: string) =>
  git(r.origin.bareDir, ['rev-parse', '--verify', '--quiet', `refs/tags/${name}`], r.env).catch(
    () => ''
  )

describe('release checks', () => {
  it('accepts a tag on the default branch naming package.json version with a changelog section', async () => {
    const r = await repo()
    await tag(r, 'v1.0.0')
    const ok = await run(r, 'check', 'v1.0.0')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/v1\.0\.0: package\.json, CHANGELOG\.md and main agree/)
  })

  it('refuses a tag that is not the version, has no changelog section, or is off the default branch', async () => {
    const r = await repo()
    await tag(r, 'v1.0.1')
    const wrongVersion = await run(r, 'check', 'v1.0.1')
    expect(wrongVersion.code).toBe(1)
    expect(wrongVersion.stderr).toMatch(/v1\.0\.1 does not match package\.json's version 1\.0\.0/)

    await writeFile(path.join(r.dir, 'package.json'), JSON.stringify({ version: '1.1.0' }))
    await git(r.dir, ['commit', '--quiet', '--all', '-m', 'version only'], r.env)
    await tag(r, 'v1.1.0')
    const noSection = await run(r, 'check', 'v1.1.0')
    expect(noSection.code).toBe(1)
    expect(noSection.stderr).toMatch(/CHANGELOG\.md has no "## \[1\.1\.0\]" section/)

    await git(r.dir, ['checkout', '--quiet', '-b', 'side'], r.env)
    await writeFile(path.join(r.dir, 'package.json'), JSON.stringify({ version: '1.2.0' }))
    await writeFile(path.join(r.dir, 'CHANGELOG.md'), changelog('1.2.0'))
    await git(r.dir, ['commit', '--quiet', '--all', '-m', 'on a side branch'], r.env)
    await git(r.dir, ['tag', 'v1.2.0'], r.env)
    const offMain = await run(r, 'check', 'v1.2.0')
    expect(offMain.code).toBe(1)
    expect(offMain.stderr).toMatch(/v1\.2\.0 \([0-9a-f]{40}\) is not on main/)

    expect((await run(r, 'check', 'release-1')).stderr).toMatch(/not a version tag like v1\.2\.3/)
  })

  it('prints the version’s changelog section as the release notes', async () => {
    const r = await repo()
    const notes = await run(r, 'notes', 'v1.0.0')
    expect(notes.stdout).toBe('- what 1.0.0 brought\n')
  })
})

describe('moving the major tag', () => {
  it('v1 follows the latest v1.x.y, never back to an older line, and not to a pre-release', async () => {
    const r = await repo()
    const first = await tag(r, 'v1.0.0')
    expect((await run(r, 'move-major', 'v1.0.0')).code).toBe(0)
    expect(await remoteTag(r, 'v1')).toBe(first)

    const second = await release(r, '1.1.0', ['1.1.0', '1.0.0'])
    expect((await run(r, 'move-major', 'v1.1.0')).stdout).toMatch(/v1 now points at v1\.1\.0/)
    expect(await remoteTag(r, 'v1')).toBe(second)

    // A fix released on the 1.0 line afterwards leaves v1 on the newer 1.1.0.
    await tag(r, 'v1.0.1', first)
    const patch = await run(r, 'move-major', 'v1.0.1')
    expect(patch.stdout).toMatch(/v1 stays at v1\.1\.0: v1\.0\.1 is not the latest v1 release/)
    expect(await remoteTag(r, 'v1')).toBe(second)

    await release(r, '2.0.0-rc.1', ['2.0.0-rc.1', '1.1.0', '1.0.0'])
    expect((await run(r, 'move-major', 'v2.0.0-rc.1')).stdout).toMatch(/pre-release/)
    expect(await remoteTag(r, 'v2')).toBe('')
  })
})

describe('this repository', () => {
  it("package.json's version is the changelog's latest release, under an Unreleased section", () => {
    const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'))
    const headings = readFileSync(path.join(REPO_ROOT, 'CHANGELOG.md'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('## '))
    expect(headings[0]).toBe('## [Unreleased]')
    expect(headings[1]).toMatch(
      new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`)
    )
  })

  it('the release workflow runs these steps on version tags, the checks before the tag moves', () => {
    const text = readFileSync(path.join(REPO_ROOT, '.github/workflows/release.yml'), 'utf8')
    const wf = parseYaml(text) as {
      on: { push: { tags: string[] } }
      permissions: Record<string, string>
      jobs: Record<
        string,
        { needs?: string; permissions: Record<string, string>; steps: { run?: string }[] }
      >
    }
    expect(wf.on.push.tags).toEqual(['v*.*.*'])
    expect(wf.permissions).toEqual({})
    const runs = (job: string) => wf.jobs[job].steps.map((s) => s.run ?? '').join('\n')
    expect(wf.jobs.check.permissions).toEqual({ contents: 'read' })
    expect(runs('check')).toMatch(/node scripts\/release\.mjs check "\$GITHUB_REF_NAME"/)
    expect(runs('check')).toMatch(
      /npm ci[\s\S]*npm run package[\s\S]*git status --porcelain -- dist/
    )
    expect(runs('check')).toMatch(/npm test/)
    expect(wf.jobs.publish.needs).toBe('check')
    expect(wf.jobs.publish.permissions).toEqual({ contents: 'write' })
    expect(runs('publish')).toMatch(/node scripts\/release\.mjs move-major "\$GITHUB_REF_NAME"/)
    expect(runs('publish')).not.toMatch(/npm /) // no package code runs with the write token
  })
})
