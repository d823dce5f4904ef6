// Issue 13: text that agents control (file names, their output) is inert wherever the action
// shows it — the status comment, the pull request body, the job summary and the step log — and
// an agent command that cannot write is called out rather than reported as a quiet no-change.
import { describe, expect, it } from '@jest/globals'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { nodeBinary, type RunActionResult } from '../../test-support/run-action.js'
import {
  allNodes,
  htmlNodes,
  mentions,
  parseMarkdown,
  skeleton
} from '../../test-support/markdown-structure.js'
import {
  INTEGRATION,
  PREFIX,
  act,
  runnerCommands,
  showOnOrigin,
  statusComments,
  statuses,
  useCleanup,
  world,
  type World
} from './support.js'

useCleanup()

// Names an agent may give files (a path with `/` makes a directory: `</details>` is `details>`
// in a directory `<`). Those with a newline put `::error::`/`::stop-commands::` at the start of
// a line wherever a name is printed raw, or a heading, a list item or `</details>` wherever a
// name is written into markdown raw.
const HOSTILE_NAMES = [
  'nl-error\n::error::pwned-newline',
  'nl-stop\n::stop-commands::abc',
  'nl-heading\n# heading',
  'nl-list\n- item',
  'nl-details\n</details>',
  'tick`s ``` fence.txt',
  '@someone.txt',
  '<img src=x onerror=alert(1)>.txt',
  '::error::pwned-start.txt',
  '::stop-commands::abc.txt',
  'pipe | cell.txt',
  '</details>',
  '<!-- comment -->.txt'
]
const BENIGN_NAMES = HOSTILE_NAMES.map((_, i) => `file-${i}.txt`)
const PAYLOAD = /pwned|abc|someone|onerror|comment/

// T1 and T2 both add every file, with different content: each is an add/add conflict for T2.
// T3 prints the names, a longer fence than any in the report and `</details>`, and fails.
const AGENT_SCRIPT = `
const fs = require('node:fs')
const path = require('node:path')
const names = JSON.parse(fs.readFileSync(path.join(process.env.SCRATCH, 'names.json'), 'utf8'))
if (process.env.TASK_ID === 'T3') {
  for (const name of names) console.log(name)
  console.log('\`\`\`\`\`\\n</details>\\n<!-- x -->')
  process.exit(3)
}
for (const name of names) {
  fs.mkdirSync(path.dirname(name), { recursive: true })
  fs.writeFileSync(name, 'written by ' + process.env.TASK_ID + '\\n')
}
`

async function run(
  names: string[],
  titles: [string, string]
): Promise<{ w: World; r: RunActionResult }> {
  const w = await world(`- [ ] ${titles[0]}\n- [ ] ${titles[1]}\n- [ ] Fail loudly\n`)
  await writeFile(path.join(w.scratch, 'names.json'), JSON.stringify(names))
  await writeFile(path.join(w.scratch, 'agent.cjs'), AGENT_SCRIPT)
  const r = await act(w, `"${nodeBinary()}" "$SCRATCH/agent.cjs"`)
  return { w, r }
}

/** Raw HTML the action itself writes: its hidden markers, `<details>` and `<sub>`. */
const OUR_HTML =
  /^(?:(?:<!-- agent-fanout:(?:status issue=\d+|state [A-Za-z0-9+/=]+) -->\n?)+|<details><summary>Last lines of its output<\/summary>|<details><summary>Disk used by the tasks' worktrees: [\d.]+ (?:B|KiB|MiB|GiB) in all<\/summary>|<\/details>|<\/?sub>)$/

describe('agent-controlled text is inert', () => {
  it('file names with a newline, backticks, @mention, HTML, workflow commands, | and </details> change neither the structure of the status comment, the pull request body and the job summary, nor the step log', async () => {
    const [hostile, benign] = await Promise.all([
      run(HOSTILE_NAMES, [
        'Write the files @someone <img src=x onerror=alert(1)> | `tick`',
        'Write them too </details> <!-- comment --> #1'
      ]),
      run(BENIGN_NAMES, ['Write the files', 'Write them too'])
    ])
    for (const { r } of [hostile, benign]) {
      expect(statuses(r)).toEqual([
        ['T1', 'merged'],
        ['T2', 'conflicted'],
        ['T3', 'failed']
      ])
      expect(r.exitCode).toBe(1) // fail-on: failed,conflicted
    }
    const { w, r } = hostile
    // The agent's work is what it wrote, names and all.
    expect(await showOnOrigin(w, INTEGRATION, '@someone.txt')).toBe('written by T1')
    expect(await showOnOrigin(w, `${PREFIX}/T2`, '</details>')).toBe('written by T2')

    const shown = (x: { w: World; r: RunActionResult }): Record<string, string> => ({
      'status comment': statusComments(x.w)[0].body,
      'pull request body': x.w.api.pulls[0].body ?? '',
      'job summary': x.r.summary
    })
    const got = shown(hostile)
    const plain = shown(benign)
    for (const where of Object.keys(got)) {
      // Same headings, table rows and cells, lists, code blocks and HTML: only words differ.
      expect([where, skeleton(parseMarkdown(got[where]))]).toEqual([
        where,
        skeleton(parseMarkdown(plain[where]))
      ])
      expect([where, mentions(got[where])]).toEqual([where, []])
      for (const html of htmlNodes(got[where]))
        expect([where, html]).toEqual([where, expect.stringMatching(OUR_HTML)])
    }
    // Not vacuous: the conflict section names every file, as git would print it.
    const comment = parseMarkdown(got['status comment'])
    const spans = allNodes(comment).flatMap((n) => (n.type === 'inlineCode' ? [n.value] : []))
    for (const name of HOSTILE_NAMES)
      expect(spans).toContain(name.includes('\n') ? `"${name.replace('\n', '\\n')}"` : name)
    // The task table (the disk-use details below it have a table of their own).
    const taskTable = allNodes(comment).find((n) => n.type === 'table')
    expect(taskTable && 'children' in taskTable ? taskTable.children : []).toHaveLength(4)
    expect(got['status comment']).toContain('#### ⚠️ T2: Write them too')
    // T3's output, fences and all, is one code block.
    const blocks = allNodes(comment).flatMap((n) => (n.type === 'code' ? [n.value] : []))
    expect(blocks.some((b) => b.includes('nl-stop\n::stop-commands::abc\n'))).toBe(true)
    expect(blocks.some((b) => b.endsWith('`````\n</details>\n<!-- x -->'))).toBe(true)

    // The step log: nothing of the agents' runs as a command; the action's own commands still do.
    const commands = runnerCommands(r.stdout)
    expect(commands.filter((c) => PAYLOAD.test(c.rest))).toEqual([])
    expect(commands.filter((c) => c.name === 'stop-commands')).toEqual([])
    expect(commands.some((c) => c.name === 'endgroup')).toBe(true)
    expect(r.errors.join('\n')).toMatch(/T2 conflicted/)
    // The names were logged (the conflict line), inert.
    expect(r.stdout).toMatch(/T2: conflicts in [^]*nl-error\n\u200b::error::pwned-newline/)
  })
})

describe('a misconfigured agent is visible', () => {
  it('when every agent exits 0 without changing anything, the issue and the job summary say the agent command likely cannot write, with its output', async () => {
    const w = await world('- [ ] Fix the greeting\n- [ ] Add a license\n')
    const said =
      "Claude requested permissions to write to README.md, but you haven't granted it yet."
    const r = await act(w, `echo "Working on $TASK_ID"; echo "${said}"`)
    expect(r.exitCode).toBe(0) // no-changes is not in the default fail-on
    expect(statuses(r)).toEqual([
      ['T1', 'no-changes'],
      ['T2', 'no-changes']
    ])
    expect(w.api.pulls).toHaveLength(0)
    const notice = 'No agent changed anything: the agent command likely cannot write files'
    for (const [where, body] of [
      ['status comment', statusComments(w)[0].body],
      ['job summary', r.summary]
    ]) {
      expect([where, body]).toEqual([where, expect.stringContaining(notice)])
      expect([where, body]).toEqual([where, expect.stringContaining(`> ${said}`)])
      // Each task's section shows its output too.
      for (const id of ['T1', 'T2'])
        expect([where, body]).toEqual([
          where,
          expect.stringMatching(new RegExp(`#### ➖ ${id}: [^]*Working on ${id}\\n${said}`))
        ])
    }
    // And the step log carries it as a warning.
    expect(
      runnerCommands(r.stdout).filter((c) => c.name === 'warning' && c.rest.includes(notice))
    ).toHaveLength(1)
  })
})
