#!/usr/bin/env node
// Regenerates docs/status-comment.png, the README's picture of what a user gets: a real run of
// the bundled action (dist/index.js, so run `npm run package` first) against the test suite's
// GitHub API stand-in, with a scripted agent on a small sample repository; the status comment
// the stand-in received is rendered to HTML the way GitHub renders it (GFM, with GitHub-like
// styles) and shot with headless Chromium.
//
//   npm run package && node scripts/screenshot.mjs [--out docs/status-comment.png] [--html x.html]
//
// Needs git, and chromium (or google-chrome; CHROMIUM=/path/to/it) on PATH.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { register } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { micromark } from 'micromark'
import { gfm, gfmHtml } from 'micromark-extension-gfm'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: path.join(ROOT, 'docs', 'status-comment.png') },
    html: { type: 'string' },
    width: { type: 'string', default: '920' },
    height: { type: 'string', default: '1180' }
  }
})

register('./ts-hooks.mjs', import.meta.url)
const { FakeGitHub } = await import('../test-support/fake-github.ts')
const { createOrigin, cloneWorkspace, removeTempDirs } =
  await import('../test-support/git-fixtures.ts')
const { runAction } = await import('../test-support/run-action.ts')

if (!existsSync(path.join(ROOT, 'dist', 'index.js'))) {
  console.error('dist/index.js is missing: run `npm run package` first.')
  process.exit(1)
}

const ISSUE = `Make the greeter ready for release.

- [ ] T1: Add a farewell function
  - export it from \`src/index.js\`, with a test
- [ ] T2: Document the CLI flags in the README
- [ ] T3: Add a --version flag and mention it in the README
- [x] T4: Set up CI
`

// One scripted agent for every task: what it does depends on $TASK_ID. T2 and T3 both rewrite
// the README's usage line, so the second one to merge conflicts, as it would for real agents.
const AGENT = `set -e
sleep 2
case "$TASK_ID" in
  T1) printf 'export const farewell = (name) => \`Goodbye, \${name}!\`\\n' > src/farewell.js
      git add -A && git commit -qm "Add farewell()" ;;
  T2) sed -i 's/^Usage: .*/Usage: greet [--shout] [--name NAME]/' README.md
      git commit -qam "README: document --shout and --name" ;;
  T3) sed -i 's/^Usage: .*/Usage: greet [--version]/' README.md
      printf 'export const version = "1.0.0"\\n' > src/version.js
      git add -A && git commit -qm "Add --version" ;;
  I*) printf 'export const hallo = (name) => \`Hallo, \${name}!\`\\n' > src/de.js
      git add -A && git commit -qm "German greeting" ;;
esac`

async function statusCommentBody() {
  const origin = await createOrigin({
    'README.md': '# greeter\n\nSays hello.\n\nUsage: greet NAME\n',
    'src/index.js': 'export const greet = (name) => `Hello, ${name}!`\n'
  })
  const api = await FakeGitHub.start({
    owner: 'octo-org',
    repo: 'greeter',
    originDir: origin.bareDir
  })
  try {
    api.setPermission('maintainer', 'write')
    const issue = api.addIssue({
      number: 12,
      title: 'Release 1.0',
      body: ISSUE,
      labels: ['agents']
    })
    api.addIssue({ number: 13, title: 'Greet in German', body: 'Add `hallo(name)`.' })
    api.addSubIssue(12, 13)
    const run = await runAction({
      workspace: await cloneWorkspace(origin),
      eventName: 'issues',
      payload: {
        action: 'labeled',
        label: { name: 'agents' },
        issue: { number: 12, title: issue.title, body: issue.body, user: { login: 'maintainer' } },
        repository: { name: api.repo, owner: { login: api.owner }, default_branch: 'main' },
        sender: { login: 'maintainer', type: 'User' }
      },
      api,
      inputs: { 'agent-command': AGENT, 'fail-on': 'none' }
    })
    const comment = api.comments.filter((c) => c.body.includes('agent-fanout:status')).at(-1)
    if (!comment) {
      throw new Error(`The run posted no status comment (exit ${run.exitCode}):\n${run.stdout}`)
    }
    if (api.violations.length) throw new Error(`Stand-in violations:\n${api.violations.join('\n')}`)
    return comment.body
  } finally {
    await api.stop()
    await removeTempDirs()
  }
}

// GitHub's comment box and markdown styles, reduced to what a status comment uses.
const CSS = `
body { margin: 0; padding: 16px; background: #fff; color: #1f2328;
  font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
.box { border: 1px solid #d1d9e0; border-radius: 6px; }
.head { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; border-radius: 6px 6px 0 0; color: #59636e; }
.head b { color: #1f2328; } .bot { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 7px; font-size: 12px; margin: 0 4px; }
.body { padding: 16px; }
.body > :first-child { margin-top: 0; }
h3 { font-size: 1.25em; font-weight: 600; margin: 24px 0 16px; }
h4 { font-size: 1em; font-weight: 600; margin: 24px 0 16px; }
p, ul, table, pre, blockquote, details { margin: 0 0 16px; }
ul { padding-left: 2em; }
a { color: #0969da; text-decoration: none; }
code { font: 85% ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, monospace; background: #818b981f; border-radius: 6px; padding: .2em .4em; }
pre { background: #f6f8fa; border-radius: 6px; padding: 16px; overflow: auto; font-size: 85%; line-height: 1.45; }
pre code { background: none; padding: 0; font-size: 100%; }
table { border-collapse: collapse; display: block; width: max-content; max-width: 100%; overflow: auto; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
blockquote { padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
hr { height: .25em; background: #d1d9e0; border: 0; margin: 24px 0; }
sub { font-size: 75%; }
`

function page(markdown) {
  // Only our own HTML is in a status comment (hidden markers, <details>, <sub>): shown as GitHub does.
  const html = micromark(markdown, {
    extensions: [gfm()],
    htmlExtensions: [gfmHtml()],
    allowDangerousHtml: true
  })
  return `<!doctype html><html><head><meta charset="utf-8"><style>${CSS}</style></head><body>
<div class="box"><div class="head"><b>github-actions</b><span class="bot">bot</span> commented</div>
<div class="body">${html}</div></div></body></html>`
}

function chromium() {
  for (const name of [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome']) {
    if (!name) continue
    try {
      execFileSync('which', [name], { stdio: 'ignore' })
      return name
    } catch {
      // Not this one.
    }
  }
  throw new Error('No chromium on PATH (set CHROMIUM=/path/to/chromium).')
}

const markdown = await statusCommentBody()
const scratch = mkdtempSync(path.join(os.tmpdir(), 'agent-fanout-shot-'))
try {
  const htmlFile = args.html ? path.resolve(args.html) : path.join(scratch, 'comment.html')
  writeFileSync(htmlFile, page(markdown))
  execFileSync(
    chromium(),
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--user-data-dir=${path.join(scratch, 'profile')}`,
      `--screenshot=${path.resolve(args.out)}`,
      `--window-size=${args.width},${args.height}`,
      pathToFileURL(htmlFile).href
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] }
  )
  console.log(`Wrote ${path.relative(process.cwd(), path.resolve(args.out))}`)
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
