import { describe, expect, it } from '@jest/globals'
import { parseTaskList, TASK_SYNTAX_HELP, TaskListError } from '../src/core/tasks/parse.js'
import { UserError } from '../src/core/util/errors.js'

const md = (lines: string[]): string => lines.join('\n')
const tasksOf = (markdown: string) => parseTaskList(markdown).tasks
const ids = (markdown: string): string[] => tasksOf(markdown).map((task) => task.id)
const titles = (markdown: string): string[] => tasksOf(markdown).map((task) => task.title)
const errorOf = (markdown: string): Error => {
  try {
    parseTaskList(markdown)
  } catch (error) {
    return error as Error
  }
  throw new Error('expected parseTaskList to throw')
}

describe('parseTaskList: which items are tasks', () => {
  it('reads a simple task list with positional IDs', () => {
    const { tasks } = parseTaskList(
      md(['Please do these:', '', '- [ ] Add login', '- [ ] Add logout', '', 'Thanks!'])
    )
    expect(tasks).toEqual([
      {
        id: 'T1',
        idSource: 'position',
        position: 1,
        title: 'Add login',
        body: '',
        checked: false
      },
      {
        id: 'T2',
        idSource: 'position',
        position: 2,
        title: 'Add logout',
        body: '',
        checked: false
      }
    ])
  })

  it('returns no tasks for a document without task items', () => {
    expect(tasksOf('')).toEqual([])
    expect(tasksOf(md(['# Plan', '', '- plain item', '- another', '', '1. numbered']))).toEqual([])
  })

  it('accepts *, + and ordered list markers', () => {
    const markdown = md(['* [ ] star', '', '+ [ ] plus', '', '1. [ ] one', '2) [ ] two'])
    expect(titles(markdown)).toEqual(['star', 'plus', 'one', 'two'])
    expect(ids(markdown)).toEqual(['T1', 'T2', 'T3', 'T4'])
  })

  it('ignores plain items mixed into a task list', () => {
    expect(titles(md(['- [ ] a', '- just a note', '- [ ] b']))).toEqual(['a', 'b'])
  })

  it('treats nested task items as the body of their parent, not as tasks', () => {
    const tasks = tasksOf(
      md(['- [ ] Parent', '  - [ ] child one', '  - [x] child two', '- [ ] Next'])
    )
    expect(tasks.map((task) => task.title)).toEqual(['Parent', 'Next'])
    expect(tasks[0].body).toBe('- [ ] child one\n- [x] child two')
    expect(tasks[1].id).toBe('T2')
  })

  it('ignores task items nested in a plain list item', () => {
    expect(tasksOf(md(['- Group', '  - [ ] nested', '- [ ] top']))).toHaveLength(1)
  })

  it('returns checked items as checked and counts them in positions', () => {
    const before = tasksOf(md(['- [ ] a', '- [ ] b', '- [ ] c']))
    const after = tasksOf(md(['- [ ] a', '- [x] b', '- [X] c']))
    expect(after.map((task) => task.id)).toEqual(before.map((task) => task.id))
    expect(after.map((task) => [task.id, task.position, task.checked])).toEqual([
      ['T1', 1, false],
      ['T2', 2, true],
      ['T3', 3, true]
    ])
  })

  it('ignores task items in fenced code blocks', () => {
    const markdown = md([
      '```markdown',
      '- [ ] in backticks',
      '```',
      '',
      '~~~',
      '- [ ] in tildes',
      '~~~',
      '',
      '- [ ] real'
    ])
    expect(titles(markdown)).toEqual(['real'])
    expect(ids(markdown)).toEqual(['T1'])
  })

  it('ignores task items in indented code blocks', () => {
    expect(titles(md(['Example:', '', '    - [ ] in code', '', '- [ ] real']))).toEqual(['real'])
  })

  it('ignores task items in HTML comments', () => {
    const markdown = md(['<!--', '- [ ] hidden', '-->', '- [ ] visible <!-- - [ ] inline -->'])
    expect(titles(markdown)).toEqual(['visible'])
  })

  it('ignores task items inside <details> sections', () => {
    const markdown = md([
      '<details>',
      '<summary>Old tasks</summary>',
      '',
      '- [ ] hidden',
      '',
      '<details><summary>inner</summary>',
      '',
      '- [ ] deeper',
      '',
      '</details>',
      '',
      '- [ ] still hidden',
      '',
      '</details>',
      '',
      '<details><summary>one line</summary>text</details>',
      '',
      '- [ ] visible'
    ])
    expect(titles(markdown)).toEqual(['visible'])
    expect(ids(markdown)).toEqual(['T1'])
  })

  it('ignores task lists in blockquotes and footnotes', () => {
    const markdown = md([
      '> - [ ] quoted from someone else',
      '',
      '- [ ] mine[^1]',
      '',
      '[^1]: Footnote.',
      '    - [ ] in the footnote'
    ])
    expect(titles(markdown)).toEqual(['mine[^1]'])
  })

  it('collects items from several separate lists in document order', () => {
    const markdown = md(['## Backend', '', '- [ ] api', '', '## Frontend', '', '1. [ ] ui'])
    expect(tasksOf(markdown).map((task) => [task.id, task.title])).toEqual([
      ['T1', 'api'],
      ['T2', 'ui']
    ])
  })
})

describe('parseTaskList: titles and bodies', () => {
  it('uses the first line as title and the rest of the paragraph as body', () => {
    const [task] = tasksOf(md(['- [ ] Add login', '  with OAuth', '  and tests']))
    expect(task.title).toBe('Add login')
    expect(task.body).toBe('with OAuth\nand tests')
  })

  it('takes lazy continuation lines into the body', () => {
    expect(tasksOf(md(['- [ ] Title', 'lazy line']))[0].body).toBe('lazy line')
  })

  it('ends the title at a hard line break', () => {
    const [task] = tasksOf(md(['- [ ] Title  ', '  next']))
    expect(task.title).toBe('Title')
    expect(task.body).toBe('next')
  })

  it('keeps nested markdown in the body, de-indented', () => {
    const markdown = md([
      '- [ ] T1: Add login',
      '  - validate the **e-mail**',
      '    - nested deeper',
      '',
      '  ```ts',
      '  const x = 1',
      '    indented()',
      '  ```',
      '',
      '  Closing paragraph.',
      '',
      '- [ ] Next'
    ])
    const [task] = tasksOf(markdown)
    expect(task.body).toBe(
      md([
        '- validate the **e-mail**',
        '  - nested deeper',
        '',
        '```ts',
        'const x = 1',
        '  indented()',
        '```',
        '',
        'Closing paragraph.'
      ])
    )
  })

  it('de-indents bodies of ordered and indented items by their content indent', () => {
    const [ordered] = tasksOf(md(['10. [ ] Ten', '    - detail']))
    expect(ordered.body).toBe('- detail')
    const [indented] = tasksOf(md(['  - [ ] Indented', '    - detail']))
    expect(indented.body).toBe('- detail')
  })

  it('keeps the title as written in markdown, whitespace collapsed', () => {
    const [task] = tasksOf('- [ ]   Add   **bold** and `code` and [a link](https://x.y)  ')
    expect(task.title).toBe('Add **bold** and `code` and [a link](https://x.y)')
  })

  it('passes hostile titles through literally', () => {
    const markdown = md([
      '- [ ] $(touch /tmp/x)',
      '- [ ] `rm -rf /`; echo \'quoted\' "double"',
      '- [ ] a && b | c > /etc/passwd'
    ])
    expect(titles(markdown)).toEqual([
      '$(touch /tmp/x)',
      '`rm -rf /`; echo \'quoted\' "double"',
      'a && b | c > /etc/passwd'
    ])
  })

  it('handles CRLF line endings', () => {
    const [first, second] = tasksOf('- [ ] T1: One\r\n  detail\r\n- [ ] Two\r\n')
    expect(first).toMatchObject({ id: 'T1', title: 'One', body: 'detail' })
    expect(second).toMatchObject({ id: 'T2', title: 'Two', body: '' })
  })

  it('drops invisible characters from titles', () => {
    expect(titles('- [ ] Add\u200B login\u202E')).toEqual(['Add login'])
  })

  it('keeps an image-only title as its markdown', () => {
    expect(titles(md(['- [ ] ok', '- [ ] ![](image.png)']))).toEqual(['ok', '![](image.png)'])
  })

  it('rejects an item with only an ID', () => {
    const error = errorOf('- [ ] **T5:**')
    expect(error).toBeInstanceOf(TaskListError)
    expect(error.message).toContain('Task item 1 has no title after its ID "T5"')
  })
})

describe('parseTaskList: explicit IDs', () => {
  it.each([
    ['T1: Add login', 'T1'],
    ['[T1] Add login', 'T1'],
    ['**T1** Add login', 'T1'],
    ['**T1:** Add login', 'T1'],
    ['**T1**: Add login', 'T1'],
    ['`T1` Add login', 'T1'],
    ['`T1`: Add login', 'T1'],
    ['api-2: Add login', 'api-2'],
    ['Step_10: Add login', 'Step_10'],
    ['t1: Add login', 't1']
  ])('reads "%s" as ID %s', (item, id) => {
    const [task] = tasksOf(`- [ ] ${item}`)
    expect(task).toMatchObject({ id, idSource: 'explicit', title: 'Add login', position: 1 })
  })

  it.each([
    ['Fix: the bug', 'Fix: the bug'],
    ['**Note** read this', '**Note** read this'],
    ['H2O support', 'H2O support'],
    ['`npm` upgrade', '`npm` upgrade'],
    ['T1 without separator', 'T1 without separator'],
    ['**T1**glued', '**T1**glued'],
    ['1abc: starts with a digit', '1abc: starts with a digit'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567: too long', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567: too long'],
    ['http://example.com/T1', 'http://example.com/T1']
  ])('keeps "%s" in the title with a positional ID', (item, title) => {
    const [task] = tasksOf(`- [ ] ${item}`)
    expect(task).toMatchObject({ id: 'T1', idSource: 'position', title })
  })

  it('does not take an ID from later in the line', () => {
    expect(tasksOf('- [ ] Do it, see T2: notes')[0]).toMatchObject({
      id: 'T1',
      title: 'Do it, see T2: notes'
    })
  })

  it('mixes explicit and positional IDs', () => {
    expect(ids(md(['- [ ] setup', '- [ ] db-1: Migrate', '- [ ] finish']))).toEqual([
      'T1',
      'db-1',
      'T3'
    ])
  })

  it('rejects duplicate explicit IDs, naming both items', () => {
    const error = errorOf(md(['- [ ] T2: Add login', '- [ ] T2: Add logout']))
    expect(error).toBeInstanceOf(TaskListError)
    expect(error).toBeInstanceOf(UserError)
    expect(error.name).toBe('TaskListError')
    expect(error.message).toContain(
      'Duplicate task ID "T2": item 1 ("Add login") and item 2 ("Add logout").'
    )
    expect(error.message).toMatch(/Give each task a distinct ID such as "T3: \.\.\."/)
  })

  it('rejects an explicit ID that clashes with a positional one', () => {
    const error = errorOf(md(['- [ ] T2: Add login', '- [ ] Add logout']))
    expect(error).toBeInstanceOf(TaskListError)
    expect(error.message).toContain('item 1 ("Add login") and item 2 ("Add logout")')
    expect(error.message).toContain('Item 2 has no explicit ID')
  })

  it('counts checked items when checking for clashes', () => {
    const error = errorOf(md(['- [x] Done already', '- [ ] T1: New']))
    expect(error.message).toContain('Duplicate task ID "T1"')
  })

  it('compares IDs ignoring case', () => {
    const error = errorOf(md(['- [ ] Api-1: one', '- [ ] API-1: two']))
    expect(error).toBeInstanceOf(TaskListError)
    expect(error.message).toContain('Duplicate task ID "API-1" (same as "Api-1"')
    expect(error.message).toContain('item 1 ("one") and item 2 ("two")')
  })
})

describe('parseTaskList: references', () => {
  it('marks items that are only an issue reference', () => {
    const tasks = tasksOf(md(['- [ ] #123', '- [ ] T4: #77', '- [ ]  #9 ']))
    expect(tasks[0]).toMatchObject({ id: 'T1', title: '#123', reference: { issueNumber: 123 } })
    expect(tasks[1]).toMatchObject({ id: 'T4', title: '#77', reference: { issueNumber: 77 } })
    expect(tasks[2]).toMatchObject({ id: 'T3', title: '#9', reference: { issueNumber: 9 } })
  })

  it('does not treat #0 or text after the number as a reference', () => {
    expect(tasksOf('- [ ] #0')[0].reference).toBeUndefined()
    expect(tasksOf('- [ ] #12 and more')[0].reference).toBeUndefined()
    expect(tasksOf('- [ ] Fix #12 crash')[0].reference).toBeUndefined()
  })
})

describe('TASK_SYNTAX_HELP', () => {
  it('shows an example task list that parses', () => {
    expect(TASK_SYNTAX_HELP).toContain('- [ ] T1:')
    expect(TASK_SYNTAX_HELP).toContain('- [ ] #123')
    expect(TASK_SYNTAX_HELP).toContain('<details>')
    const example = /```markdown\n([\s\S]*?)```/.exec(TASK_SYNTAX_HELP)?.[1] ?? ''
    const tasks = tasksOf(example)
    expect(tasks.map((task) => [task.id, task.title])).toEqual([
      ['T1', 'Add a login form'],
      ['T2', 'Add a logout button'],
      ['T3', '#123']
    ])
    expect(tasks[0].body).toContain('- [ ] nested checkboxes')
  })
})
