import { getOctokit } from '@actions/github'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { memoryLogger } from '../src/core/logger.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import { sanitizeIssueText, sanitizeWithOffsets } from '../src/core/tasks/sanitize.js'
import { tickTasks, type TickRequest } from '../src/core/tasks/tick.js'
import { octokitApi, type GitHubApi } from '../src/github/api.js'
import { tickDoneTasks } from '../src/github/tick-boxes.js'
import { FakeGitHub } from '../test-support/fake-github.js'

/** The tasks of a body as a run reads them, by ID. */
function read(body: string, ...ids: string[]): TickRequest[] {
  const tasks = parseTaskList(body).tasks
  return ids.map((id) => {
    const t = tasks.find((x) => x.id === id)!
    return { id, title: t.title, body: t.body }
  })
}

describe('tickTasks', () => {
  it('changes only the character between the brackets of the done tasks', () => {
    const body =
      'Intro with [ ] brackets and - [ ] a fake item in text.\r\n\r\n' +
      '- [ ] T1: First\r\n' +
      '  - [ ] nested detail\r\n' +
      '* [ ]   **T2** Second <!-- - [ ] hidden -->\r\n' +
      '- [x] Third, done earlier\r\n' +
      '```\n- [ ] T9: in code\n```\n' +
      '1. [ ] Fourth\n'
    const out = tickTasks(body, read(body, 'T1', 'T2', 'T4'))
    expect(out.ticked).toEqual(['T1', 'T2', 'T4'])
    const diff = [...body].flatMap((c, i) => (c === out.body[i] ? [] : [[i, c, out.body[i]]]))
    expect(out.body).toHaveLength(body.length)
    expect(diff.map(([, from, to]) => `${from}>${to}`)).toEqual([' >x', ' >x', ' >x'])
    expect(out.body).toContain('- [x] T1: First\r\n  - [ ] nested detail\r\n')
    expect(out.body).toContain('* [x]   **T2** Second <!-- - [ ] hidden -->')
    expect(out.body).toContain('1. [x] Fourth')
    expect(out.body).toContain('Intro with [ ] brackets and - [ ] a fake item')
    expect(parseTaskList(out.body).tasks.map((t) => t.checked)).toEqual([true, true, true, true])
  })

  it('finds the box behind hidden characters and comments before it', () => {
    const body = '<!-- note -->\n- [ ] \u200bT1: a\n<!--\n- [ ] x\n-->\n- [ ] b\u202e\n'
    const out = tickTasks(body, read(body, 'T2'))
    expect(out.body).toBe('<!-- note -->\n- [ ] \u200bT1: a\n<!--\n- [ ] x\n-->\n- [x] b\u202e\n')
  })

  it('leaves a task whose text changed since the run read it, or that is gone', () => {
    const before = '- [ ] Add a form\n- [ ] Add a button\n'
    const requests = read(before, 'T1', 'T2')
    // A person inserted an item: positions (and so IDs) moved; nothing is ticked wrongly.
    const now = '- [ ] Something new\n- [ ] Add a form\n- [ ] Add a button\n'
    const out = tickTasks(now, requests)
    expect(out.body).toBe(now)
    expect(out.left.map((l) => l.id)).toEqual(['T1', 'T2'])
    expect(tickTasks('- [ ] x\n', [{ id: 'T7', title: 'x', body: '' }]).left).toEqual([
      { id: 'T7', why: 'no longer in the task list' }
    ])
  })

  it('clears the box of a task asked to be unticked, and only that', () => {
    const body = '- [x] T1: a\n- [X] T2: b\n- [x] T3: c\n'
    const out = tickTasks(body, [{ ...read(body, 'T2')[0], untick: true }])
    expect(out.body).toBe('- [x] T1: a\n- [ ] T2: b\n- [x] T3: c\n')
  })

  it('maps every sanitised character back to the one it came from', () => {
    const raw = 'a\r\nb\rc\u200bd<!-- x -->e`<!--`f\u{E0041}g'
    const { text, rawOffsets } = sanitizeWithOffsets(raw)
    expect(text).toBe(sanitizeIssueText(raw))
    expect([...text].map((c, i) => (c === '\n' ? '\n' : raw[rawOffsets[i]]))).toEqual([...text])
  })
})

describe('tickDoneTasks (stand-in)', () => {
  let fake: FakeGitHub
  let api: GitHubApi
  beforeAll(async () => {
    fake = await FakeGitHub.start()
    api = octokitApi(getOctokit(fake.token, { baseUrl: fake.url }), fake.owner, fake.repo)
  })
  afterAll(async () => fake.stop())

  it('ticks the boxes on the issue', async () => {
    const body = '- [ ] T1: a\n- [ ] T2: b\n'
    fake.addIssue({ number: 1, title: 'x', body })
    expect(await tickDoneTasks(api, 1, read(body, 'T2'), memoryLogger())).toEqual(['T2'])
    expect(fake.issues.get(1)!.body).toBe('- [ ] T1: a\n- [x] T2: b\n')
  })

  it("keeps a person's edit made between the read and the write, and still ticks", async () => {
    const body = '- [ ] T1: a\n- [ ] T2: b\n'
    fake.addIssue({ number: 2, title: 'x', body })
    // The second read (the check before writing) arrives after a person saved an edit.
    const first = fake.holdNext('GET', /\/issues\/2$/)
    const hold = fake.holdNext('GET', /\/issues\/2$/)
    const logger = memoryLogger()
    const ticking = tickDoneTasks(api, 2, read(body, 'T1'), logger)
    await first.reached
    first.release()
    await hold.reached
    fake.issues.get(2)!.body = '- [ ] T1: a\n- [ ] T2: b\n- [ ] T3: added by a person\n'
    hold.release()
    expect(await ticking).toEqual(['T1'])
    expect(fake.issues.get(2)!.body).toBe('- [x] T1: a\n- [ ] T2: b\n- [ ] T3: added by a person\n')
    expect(logger.lines.join('\n')).toMatch(/changed while ticking boxes; reading it again/)
    expect(fake.requestsMatching('PATCH', /\/issues\/2$/)).toHaveLength(1)
  })

  it('gives up after a few tries when the body keeps changing, writing nothing', async () => {
    const body = '- [ ] T1: a\n'
    fake.addIssue({ number: 3, title: 'x', body })
    const logger = memoryLogger()
    let n = 0
    const changing: GitHubApi = {
      ...api,
      getIssue: async (i) => ({ ...(await api.getIssue(i)), body: `${body}\n${n++}` })
    }
    expect(await tickDoneTasks(changing, 3, read(body, 'T1'), logger, 3)).toEqual([])
    expect(logger.lines.join('\n')).toMatch(/kept changing \(3 tries\)/)
    expect(fake.requestsMatching('PATCH', /\/issues\/3$/)).toHaveLength(0)
  })
})
