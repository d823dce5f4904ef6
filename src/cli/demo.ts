import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { consoleLogger } from '../core/logger.js'
import { renderTerminalReport } from '../core/report/terminal.js'
import { runLocal } from './run.js'

// The sample project and issue of `npm run demo`. Six open tasks: three merge, two collide
// with an earlier task on the same line (T3 with T2, T5 with T4), one fails; one is ticked.
const SAMPLE_FILES: Record<string, string> = {
  'README.md': '# Greeter\n\nA tiny greeting library.\n\nStatus: experimental\n',
  'CHANGELOG.md': '# Changelog\n\n- Unreleased: nothing yet\n',
  'src/greet.js': 'export function greet(name) {\n  return `Hello, ${name}!`\n}\n'
}

export const DEMO_ISSUE = `# Polish the greeter before the first release

Each task below is handed to its own agent, in its own git worktree.

- [ ] T1: Add a farewell function
  - create \`src/farewell.js\` with: export const farewell = (name) => \`Goodbye, \${name}!\`
- [ ] T2: Mark the project as stable
  - set line 5 of \`README.md\` to: Status: stable
- [ ] T3: Mark the project as beta
  - set line 5 of \`README.md\` to: Status: beta
- [ ] T4: Record the farewell function in the changelog
  - set line 3 of \`CHANGELOG.md\` to: - Unreleased: added farewell()
- [ ] T5: Record the README changes in the changelog
  - set line 3 of \`CHANGELOG.md\` to: - Unreleased: README says the project is stable
- [ ] T6: Upgrade the build tooling
  - fail with status 3: the demo agent cannot reach the network to upgrade anything
- [x] T7: Set up the repository
`

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { keep: { type: 'boolean', default: false } }
  })
  const root = await mkdtemp(path.join(os.tmpdir(), 'agent-fanout-demo-'))
  const repo = path.join(root, 'greeter')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Demo',
    GIT_AUTHOR_EMAIL: 'demo@example.invalid',
    GIT_COMMITTER_NAME: 'Demo',
    GIT_COMMITTER_EMAIL: 'demo@example.invalid',
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: root
  }
  try {
    await mkdir(path.join(repo, 'src'), { recursive: true })
    for (const [file, content] of Object.entries(SAMPLE_FILES))
      await writeFile(path.join(repo, file), content)
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: repo, env, encoding: 'utf8' })
    git('init', '--quiet', '--initial-branch=main')
    git('add', '--all')
    git('commit', '--quiet', '-m', 'Initial greeter')
    const issueFile = path.join(root, 'issue.md')
    await writeFile(issueFile, DEMO_ISSUE)

    console.log(`Demo repository: ${repo}\nIssue:\n\n${DEMO_ISSUE}`)
    const cli = fileURLToPath(import.meta.url)
    const result = await runLocal({
      repoDir: repo,
      issueFile,
      agentCommand: `${q(process.execPath)} ${q(cli)} demo-agent`,
      issueNumber: 1,
      options: { 'max-parallel': 4, 'task-timeout-minutes': 120_000 },
      workDir: path.join(root, 'work'),
      logger: consoleLogger(),
      env
    })
    console.log(`\n${renderTerminalReport(result)}`)
    console.log(`History of ${result.integrationBranch}:\n`)
    console.log(git('log', '--graph', '--format=%h %s', result.integrationBranch))
    console.log(`Branches:\n${git('branch', '--list', '--format=  %(refname:short)')}`)
    if (values.keep) console.log(`Kept ${root} (--keep).`)
    return 0
  } finally {
    if (!values.keep) await rm(root, { recursive: true, force: true })
  }
}

/**
 * The demo's deterministic "agent": it reads its task from TASK_BODY (never from argv) and
 * follows the plain-English steps the demo issue spells out. No network, no model.
 */
export async function runDemoAgent(): Promise<number> {
  const id = process.env.TASK_ID ?? '?'
  const body = process.env.TASK_BODY ?? ''
  const prompt = await readFile(process.env.TASK_PROMPT_FILE ?? '', 'utf8').catch(() => '')
  console.log(
    `demo agent for ${id}: "${process.env.TASK_TITLE}" (prompt file: ${prompt.length} characters)`
  )
  await sleep(150 + (Number(id.replace(/\D/g, '')) % 4) * 100)
  for (const line of body.split('\n')) {
    let m: RegExpExecArray | null
    if ((m = /create `([^`]+)` with: (.*)$/.exec(line))) {
      const file = inside(m[1])
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, `${m[2]}\n`)
      console.log(`created ${m[1]}`)
    } else if ((m = /set line (\d+) of `([^`]+)` to: (.*)$/.exec(line))) {
      const file = inside(m[2])
      const lines = (await readFile(file, 'utf8')).split('\n')
      lines[Number(m[1]) - 1] = m[3]
      await writeFile(file, lines.join('\n'))
      console.log(`changed line ${m[1]} of ${m[2]}`)
    } else if ((m = /fail with status (\d+): (.*)$/.exec(line))) {
      console.error(`giving up: ${m[2]}`)
      return Number(m[1])
    }
  }
  return 0
}

function inside(relative: string): string {
  const file = path.resolve(process.cwd(), relative)
  if (!file.startsWith(process.cwd() + path.sep))
    throw new Error(`refusing to write outside the worktree: ${relative}`)
  return file
}
