// The pull request: its body tells a reviewer what each task did (the agent's words, else the
// commits on its branch, read with git), and closes the merged sub-issues; GitHub refusing to
// open it (403, 422) comes back as a report with the fix, never as a lost run.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { toString } from 'mdast-util-to-string'
import { getOctokit } from '@actions/github'
import { compareUrl, publishPullRequest } from '../src/action/pull-request.js'
import { Git } from '../src/core/git/git.js'
import { renderPullRequestBody, renderReport } from '../src/core/report/markdown.js'
import { serialize } from '../src/core/report/mdast.js'
import type { FanoutResult, Logger, Task, TaskResult } from '../src/core/types.js'
import { octokitApi } from '../src/github/api.js'
import { FakeGitHub } from '../test-support/fake-github.js'
import {
  cloneWorkspace,
  commitToOrigin,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs
} from '../test-support/git-fixtures.js'
import {
  allNodes,
  htmlNodes,
  mentions,
  parseMarkdown,
  skeleton
} from '../test-support/markdown-structure.js'

const servers: FakeGitHub[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})
afterAll(removeTempDirs)

const quiet: Logger & { errors: string[] } = {
  errors: [],
  debug: () => undefined,
  info: () => undefined,
  warning: () => undefined,
  error(m) {
    this.errors.push(m)
  },
  group: (_n, fn) => fn()
}

const PREFIX = 'fanout/issue-10'
const HOSTILE_SUMMARY =
  '# Took over\n- [x] done @someone <img src=x onerror=alert(1)> see #12 and https://e.test </details>'

interface World {
  fake: FakeGitHub
  git: Git
  baseSha: string
  result: FanoutResult
  tasks: Task[]
}

/**
 * origin with main, three task branches (T1: the agent reported, T2: commits only, I45: a
 * sub-issue's) and the integration branch holding them; a full clone to read commits from.
 */
async function world(opts: { integrationHasWork?: boolean } = {}): Promise<World> {
  const origin = await createOrigin({ 'README.md': '# x\n' })
  const fake = await FakeGitHub.start({ originDir: origin.bareDir })
  servers.push(fake)
  const t1 = await commitToOrigin(origin, { 'a.txt': 'a\n' }, 'T1: add a', `${PREFIX}/T1`)
  await commitToOrigin(origin, { 'b.txt': 'b\n' }, 'first: @someone `tick` | pipe', `${PREFIX}/T2`)
  const t2 = await commitToOrigin(
    origin,
    { 'c d.txt': 'c\n', '<b>.txt': 'x\n' },
    '## not a heading <details>',
    `${PREFIX}/T2`
  )
  const i45 = await commitToOrigin(origin, { 'e.txt': 'e\n' }, 'search', `${PREFIX}/I45`)
  const i46 = await commitToOrigin(origin, { 'f.txt': 'f\n' }, 'other', `${PREFIX}/I46`)
  const integration = await commitToOrigin(
    origin,
    opts.integrationHasWork === false ? {} : { 'a.txt': 'a\n', 'b.txt': 'b\n' },
    'merged',
    `${PREFIX}/integration`
  )
  if (opts.integrationHasWork === false) {
    // Same tree and commit as main: GitHub says "No commits between".
    const main = await git(origin.bareDir, ['rev-parse', 'main'], isolatedGitEnv(origin.home))
    await git(
      origin.bareDir,
      ['update-ref', `refs/heads/${PREFIX}/integration`, main],
      isolatedGitEnv(origin.home)
    )
  }
  const dir = await cloneWorkspace(origin, { depth: 0 })
  const baseSha = await git(dir, ['rev-parse', 'origin/main'], isolatedGitEnv(origin.home))
  const task = (id: string, commit: string, files: string[], extra: Partial<TaskResult> = {}) =>
    ({
      id,
      title: `Task ${id}`,
      status: 'merged',
      branch: `${PREFIX}/${id}`,
      changedFiles: files,
      durationMs: 1000,
      commit,
      ...extra
    }) as TaskResult
  const result: FanoutResult = {
    baseBranch: 'main',
    baseSha,
    integrationBranch: `${PREFIX}/integration`,
    integrationSha: integration,
    verify: { mode: 'each', command: 'npm test', ok: true, tail: '', exitCode: 0, durationMs: 1 },
    tasks: [
      task('T1', t1, ['a.txt'], { agentReport: { summary: HOSTILE_SUMMARY, costUsd: 0.12 } }),
      task('T2', t2, ['b.txt', 'c d.txt', '<b>.txt']),
      task('I45', i45, ['e.txt']),
      task('I46', i46, ['f.txt'], { status: 'conflicted' }),
      { ...task('T5', '', []), commit: undefined, status: 'skipped' }
    ]
  }
  const tasks = result.tasks.map((t, i): Task => ({
    id: t.id,
    idSource: 'explicit',
    position: i + 1,
    title: t.title,
    body: '',
    checked: t.status === 'skipped',
    ...(t.id.startsWith('I') ? { subIssue: { issueNumber: Number(t.id.slice(1)) } } : {})
  }))
  return { fake, git: new Git(dir), baseSha, result, tasks }
}

function publish(w: World, opts: { usedPrToken?: boolean; token?: string } = {}) {
  const api = octokitApi(
    getOctokit(opts.token ?? w.fake.token, { baseUrl: w.fake.url }),
    w.fake.owner,
    w.fake.repo
  )
  return publishPullRequest({
    api,
    usedPrToken: opts.usedPrToken ?? false,
    git: w.git,
    logger: quiet,
    result: w.result,
    tasks: w.tasks,
    issue: { number: 10, title: 'Parent issue' },
    baseBranch: 'main',
    allMerged: false,
    draft: false,
    onOrigin: [`${PREFIX}/integration`, `${PREFIX}/T1`, `${PREFIX}/T2`],
    compareUrl: compareUrl(
      { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: w.fake.fullName },
      'main',
      `${PREFIX}/integration`
    )
  })
}

/** The text a reader sees in the markdown (text nodes joined). */
const words = (markdown: string): string =>
  allNodes(parseMarkdown(markdown))
    .flatMap((n) => (n.type === 'text' || n.type === 'inlineCode' ? [n.value] : []))
    .join('\n')

describe('the pull request body says what each task did', () => {
  it("the agent's summary as text, else the branch's commit subjects; files; verify; Closes only merged sub-issues", async () => {
    const w = await world()
    const outcome = await publish(w)
    expect(outcome.refused).toBeUndefined()
    expect(w.fake.pulls).toHaveLength(1)
    const body = w.fake.pulls[0].body
    expect(outcome.pull?.url).toBe(w.fake.pulls[0].html_url)

    const tree = parseMarkdown(body)
    const headings = allNodes(tree).flatMap((n) =>
      n.type === 'heading' ? [`${n.depth} ${toString(n)}`] : []
    )
    // Our headings only: the summary's "# Took over" and the subject "## not a heading" are text.
    expect(headings).toEqual([
      '3 What each task did',
      '4 T1: Task T1 (merged)',
      '4 T2: Task T2 (merged)',
      '4 I45: Task I45 (merged)',
      '4 I46: Task I46 (conflicted)'
    ])
    expect(htmlNodes(body)).toEqual([])
    expect(mentions(body)).toEqual([])
    const text = words(body)
    // T1: what the agent said, on one line, references and links broken up.
    expect(text).toContain('# Took over - [x] done @\u200bsomeone <img src=x onerror=alert(1)>')
    expect(text).toContain('#\u200b12')
    expect(text).not.toContain('T1: add a')
    // T2: no summary, so the commit subjects, newest first, read from its branch.
    const t2 = body.slice(body.indexOf('T2: Task T2'), body.indexOf('I45: Task I45'))
    expect(words(t2).indexOf('## not a heading <details>')).toBeLessThan(
      words(t2).indexOf('first: @\u200bsomeone `tick` | pipe')
    )
    expect(words(t2)).toContain('c d.txt')
    expect(words(t2)).toContain('<b>.txt')
    expect(words(t2)).toContain('Files changed (3):')
    expect(words(t2)).toContain('passed after its merge')
    // Closes the parent only when all merged; each merged sub-issue, never the conflicted one.
    expect(body).toMatch(/Refs #10 /)
    expect(body).toMatch(/^Closes #45$/m)
    expect(body).not.toMatch(/Closes #46/)
    expect(body).not.toMatch(/Closes #10/)
  })

  it('keeps the structure whatever the agents wrote, and stays under the size limit with many tasks', () => {
    const many = (summary: string, subject: string, count: number): string => {
      const tasks: TaskResult[] = Array.from({ length: count }, (_, i) => ({
        id: `T${i + 1}`,
        title: `Task ${i + 1}`,
        status: 'merged',
        branch: `b/T${i + 1}`,
        changedFiles: Array.from({ length: 40 }, (_, j) => `dir/file-${j}-${subject}.ts`),
        durationMs: 1,
        commit: 'c'.repeat(40),
        ...(i % 2 ? { agentReport: { summary: summary.repeat(5) } } : {})
      }))
      const subjects = new Map(
        tasks.map((t) => [t.id, { subjects: Array(10).fill(subject) as string[], more: 5 }])
      )
      return renderPullRequestBody(
        { baseBranch: 'main', baseSha: 'a', integrationBranch: 'i', integrationSha: 'b', tasks },
        1,
        true,
        { subjects }
      )
    }
    for (const count of [6, 300]) {
      const hostile = many('</details> @x\n# h\n| a | b |', '* [x] `a` <!-- x --> @y', count)
      const benign = many('a plain summary of the work!', 'plain subject line here ok', count)
      expect(hostile.length).toBeLessThan(65536)
      expect(skeleton(parseMarkdown(hostile))).toEqual(skeleton(parseMarkdown(benign)))
      expect(mentions(hostile)).toEqual([])
      expect(htmlNodes(hostile)).toEqual([])
      expect(hostile).toContain('What each task did')
      expect(hostile).toContain('Closes #1')
      // Few tasks: everything; many: shortened, but every task still has its heading.
      expect(hostile.includes('The agent says:')).toBe(count === 6)
      expect(hostile.match(/^#### /gm)).toHaveLength(count)
    }
  })
})

describe('GitHub refusing to open the pull request', () => {
  it('403 (the repository setting is off): the setting, where it is, pr-token, the pushed branches; no throw', async () => {
    const w = await world()
    w.fake.failNext('POST', /\/pulls$/, [
      {
        status: 403,
        body: {
          message: 'GitHub Actions is not permitted to create or approve pull requests.',
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          status: '403'
        }
      }
    ])
    const outcome = await publish(w)
    expect(outcome.pull).toBeUndefined()
    expect(outcome.refused?.failsStep).toBe(true)
    expect(outcome.refused?.reason).toContain(
      'Allow GitHub Actions to create and approve pull requests'
    )
    const comment = renderReport(w.result, {
      issueNumber: 10,
      noPullRequestReason: outcome.refused!.reason,
      notices: outcome.refused!.notices
    })
    const text = words(comment)
    expect(text).toContain('GitHub refused to open the pull request (HTTP 403).')
    expect(text).toContain('GitHub Actions is not permitted to create or approve pull requests.')
    expect(text).toContain('Settings → Actions → General → Workflow permissions')
    expect(text).toContain('Allow GitHub Actions to create and approve pull requests')
    expect(text).toContain('pr-token')
    for (const branch of ['integration', 'T1', 'T2']) expect(text).toContain(`${PREFIX}/${branch}`)
    expect(comment).toContain(
      `(https://github.com/${w.fake.fullName}/compare/main...${PREFIX}/integration?expand=1)`
    )
    expect(quiet.errors.join('\n')).toContain(
      'No pull request: GitHub refused to open it (HTTP 403)'
    )
  })

  it('403 with pr-token set: says the token lacks the permission', async () => {
    const w = await world()
    w.fake.failNext('POST', /\/pulls$/, [{ status: 403 }])
    const outcome = await publish(w, { usedPrToken: true })
    expect(outcome.refused?.refusal.kind).toBe('token-refused')
    expect(words(serialize(outcome.refused!.notices))).toContain(
      'may not open pull requests here: give it Pull requests: write'
    )
  })

  it('422 "No commits between" (as GitHub answers it): reported, the step does not fail', async () => {
    const w = await world({ integrationHasWork: false })
    const outcome = await publish(w)
    expect(w.fake.pulls).toHaveLength(0)
    expect(outcome.refused?.refusal.status).toBe(422)
    expect(outcome.refused?.refusal.kind).toBe('no-commits')
    expect(outcome.refused?.refusal.message).toContain('No commits between main and')
    expect(outcome.refused?.failsStep).toBe(false)
    expect(words(serialize(outcome.refused!.notices))).toContain('nothing to review')
  })

  it('422 "already exists" for another base: says to close it or change its base', async () => {
    const w = await world()
    w.fake.failNext('POST', /\/pulls$/, [
      {
        status: 422,
        body: {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${w.fake.owner}:${PREFIX}/integration.`
            }
          ],
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
          status: '422'
        }
      }
    ])
    const outcome = await publish(w)
    expect(outcome.refused?.refusal.kind).toBe('already-exists')
    expect(outcome.refused?.failsStep).toBe(true)
    expect(words(serialize(outcome.refused!.notices))).toContain(
      'is already open against another base. Close it, or change its base to'
    )
  })
})
