// The workflows users copy (examples/, the snippets of the README and of docs/, this
// repository's own) parse, pin the major tag the release workflow moves, and queue runs per
// issue without letting an event the job skips cancel a queued request: GitHub keeps one
// pending run per concurrency group and cancels the older, and every comment or label event on
// the issue starts a workflow run.
import { describe, expect, it } from '@jest/globals'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { REPO_ROOT } from '../test-support/run-action.js'

interface Concurrency {
  group: string
  'cancel-in-progress'?: boolean
}
interface Step {
  id?: string
  if?: string
  uses?: string
  run?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
}
interface Job {
  if?: string
  concurrency?: Concurrency
  permissions?: Record<string, string>
  steps?: Step[]
}
interface Workflow {
  on: Record<string, unknown>
  concurrency?: Concurrency
  jobs: Record<string, Job>
}

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8')

function workflowFiles(): { name: string; text: string }[] {
  const files = [
    ...readdirSync(path.join(REPO_ROOT, 'examples')).map((f) => `examples/${f}`),
    ...readdirSync(path.join(REPO_ROOT, '.github/workflows')).map((f) => `.github/workflows/${f}`)
  ].filter((f) => f.endsWith('.yml'))
  // The README's recipes and those of the pages it links to under docs/.
  const pages = [
    'README.md',
    ...readdirSync(path.join(REPO_ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`)
  ]
  const snippets = pages
    .flatMap((page) =>
      [...read(page).matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({
        name: `${page} yaml block ${i + 1}`,
        text: m[1]
      }))
    )
    .filter((s) => /^jobs:/m.test(s.text) && /^on:/m.test(s.text))
  return [...files.map((name) => ({ name, text: read(name) })), ...snippets]
}

const usesAction = (job: Job) =>
  (job.steps ?? []).some((s) => s.uses === './' || s.uses?.startsWith('agent-fanout/agent-fanout@'))
const flat = (text: string) => text.replace(/\s+/g, ' ').trim()

/** What lets a skipped event cancel a queued run, or runs overlap on one issue. */
function queueProblems(wf: Workflow): string[] {
  const jobs = Object.values(wf.jobs)
  if (wf.concurrency) {
    // Held across jobs (plan → tasks → merge): the group must send any event the first job's
    // `if:` rejects to a group of its own.
    const gate = flat(jobs[0].if ?? '')
    const group = flat(wf.concurrency.group)
    return [
      ...(gate && group.includes(`(${gate})`)
        ? []
        : ["workflow-level group without the first job's if: test"]),
      ...(/github\.run_id/.test(group) ? [] : ['no group of their own for skipped events']),
      ...(wf.concurrency['cancel-in-progress'] === false ? [] : ['cancel-in-progress is not false'])
    ]
  }
  return jobs
    .filter(usesAction)
    .flatMap((job) => [
      ...(job.concurrency?.group.includes('github.event.issue.number')
        ? []
        : ['a job running the action has no per-issue concurrency group']),
      ...(job.concurrency?.['cancel-in-progress'] === false
        ? []
        : ['cancel-in-progress is not false'])
    ])
}

describe('workflows users copy', () => {
  const workflows = workflowFiles().map(({ name, text }) => ({
    name,
    text,
    wf: parseYaml(text) as Workflow
  }))

  it('parse, and pin the major tag that releases move', () => {
    const { version } = JSON.parse(read('package.json')) as { version: string }
    const major = `v${version.split('.')[0]}`
    expect(workflows.length).toBeGreaterThanOrEqual(9)
    for (const { name, text, wf } of workflows) {
      expect([name, typeof wf.jobs]).toEqual([name, 'object'])
      for (const m of text.matchAll(/agent-fanout\/agent-fanout@(\S+)/g)) {
        expect([name, m[1]]).toEqual([name, major])
      }
    }
  })

  it('an event the job skips never joins the group a queued request waits in', () => {
    const issueWorkflows = workflows.filter(
      ({ wf }) => 'issues' in wf.on || 'issue_comment' in wf.on
    )
    expect(issueWorkflows.length).toBeGreaterThanOrEqual(6)
    expect(
      issueWorkflows.flatMap(({ name, wf }) => queueProblems(wf).map((p) => `${name}: ${p}`))
    ).toEqual([])
  })

  it('the matrix example dispatches its next round while tasks wait, with the least permission', () => {
    const wf = parseYaml(read('examples/matrix.yml')) as Workflow
    const merge = wf.jobs.merge
    const action = merge.steps!.find((s) => s.uses?.startsWith('agent-fanout/agent-fanout@'))!
    const last = merge.steps!.at(-1)!
    // The last step of the merge job, only when its pending-tasks output lists tasks.
    expect(flat(last.if ?? '')).toContain(`steps.${action.id}.outputs.pending-tasks != '[]'`)
    expect(last.run).toMatch(/gh workflow run "[^"]+" --ref "\$REF" -f issue="\$ISSUE"/)
    expect(last.env).toMatchObject({
      GH_TOKEN: '${{ github.token }}',
      ISSUE: '${{ needs.plan.outputs.issue-number }}'
    })
    // actions: write on that job only; the plan job accepts the dispatch (from GITHUB_TOKEN).
    expect(merge.permissions?.actions).toBe('write')
    expect(
      Object.entries(wf.jobs)
        .filter(([, job]) => job.permissions?.actions !== undefined)
        .map(([name]) => name)
    ).toEqual(['merge'])
    expect(wf.jobs.plan.steps!.at(-1)!.with?.['allowed-bots']).toBe('github-actions[bot]')
    expect(wf.on).toHaveProperty('workflow_dispatch.inputs.issue')
    // The concurrency and gates stay as they were.
    expect(wf.concurrency?.['cancel-in-progress']).toBe(false)
    expect(flat(merge.if ?? '')).toBe("always() && needs.plan.outputs.issue-number != ''")
  })

  it('the single-job workflows keep their group on the job', () => {
    for (const file of [
      'examples/issue-label.yml',
      '.github/workflows/agent-fanout.yml',
      'examples/schedule.yml'
    ]) {
      const wf = parseYaml(read(file)) as Workflow
      expect([file, wf.concurrency]).toEqual([file, undefined])
      expect([file, Object.values(wf.jobs)[0].concurrency?.group]).toEqual([
        file,
        expect.stringMatching(/^agent-fanout-/)
      ])
    }
  })
})
