// The steps of .github/workflows/release.yml that decide something, kept here so they are
// tested (__tests__/release.test.ts). Run from the repository root, on a checkout of the tag:
//
//   node scripts/release.mjs check <tag>       the tag names package.json's version, CHANGELOG.md
//                                               has that version's section, and the tagged commit
//                                               is on the default branch (origin/<DEFAULT_BRANCH>)
//   node scripts/release.mjs notes <tag>       prints that CHANGELOG.md section (release notes)
//   node scripts/release.mjs move-major <tag>  points the major tag (v1) at the tagged commit and
//                                               pushes it, the convention of GitHub's action
//                                               template, unless a later v1.x.y exists or the tag
//                                               is a pre-release
//
// <tag> defaults to GITHUB_REF_NAME. git runs with argument lists, never through a shell.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const TAG = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/

function git(...args) {
  return execFileSync('git', args, { encoding: 'utf8' }).trim()
}

function fail(message) {
  console.error(`::error::${message}`)
  process.exit(1)
}

function parseTag(tag) {
  const m = TAG.exec(tag ?? '')
  if (!m) fail(`"${tag}" is not a version tag like v1.2.3 (or v1.2.3-rc.1)`)
  return { tag, version: tag.slice(1), numbers: m.slice(1, 4).map(Number), pre: Boolean(m[4]) }
}

/** The lines of CHANGELOG.md under `## [version]`, up to the next `## ` heading. */
function changelogSection(version) {
  const lines = readFileSync('CHANGELOG.md', 'utf8').split('\n')
  const start = lines.findIndex((l) => l.startsWith(`## [${version}]`))
  if (start < 0) return undefined
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '))
  return lines
    .slice(start + 1, end < 0 ? undefined : end)
    .filter((l) => !/^\[[^\]]+\]: /.test(l))
    .join('\n')
    .trim()
}

function check(t) {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8'))
  if (version !== t.version) {
    fail(
      `${t.tag} does not match package.json's version ${version}: set "version": "${t.version}" and add its CHANGELOG.md section, then tag again`
    )
  }
  if (changelogSection(t.version) === undefined) {
    fail(`CHANGELOG.md has no "## [${t.version}]" section`)
  }
  const branch = process.env.DEFAULT_BRANCH || 'main'
  const commit = git('rev-parse', `${t.tag}^{commit}`)
  try {
    git('merge-base', '--is-ancestor', commit, `refs/remotes/origin/${branch}`)
  } catch {
    fail(`${t.tag} (${commit}) is not on ${branch}: releases are tagged on the default branch`)
  }
  console.log(`${t.tag}: package.json, CHANGELOG.md and ${branch} agree`)
}

function compare(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

function moveMajor(t) {
  const major = `v${t.numbers[0]}`
  if (t.pre) {
    console.log(`${t.tag} is a pre-release: ${major} stays where it is`)
    return
  }
  const releases = git('tag', '--list', `${major}.*`)
    .split('\n')
    .map((name) => TAG.exec(name))
    .filter((m) => m && !m[4])
    .map((m) => m.slice(1, 4).map(Number))
  const latest = releases.reduce((a, b) => (compare(a, b) >= 0 ? a : b), t.numbers)
  if (compare(latest, t.numbers) > 0) {
    console.log(
      `${major} stays at v${latest.join('.')}: ${t.tag} is not the latest ${major} release`
    )
    return
  }
  const commit = git('rev-parse', `${t.tag}^{commit}`)
  git('tag', '--force', major, commit)
  git('push', '--force', 'origin', `refs/tags/${major}:refs/tags/${major}`)
  console.log(`${major} now points at ${t.tag} (${commit})`)
}

const [command, tagArg] = process.argv.slice(2)
const tag = parseTag(tagArg ?? process.env.GITHUB_REF_NAME)
if (command === 'check') check(tag)
else if (command === 'notes') console.log(changelogSection(tag.version) ?? '')
else if (command === 'move-major') moveMajor(tag)
else fail(`unknown command "${command}": use check, notes or move-major`)
