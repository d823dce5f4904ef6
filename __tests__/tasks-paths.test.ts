// A task's `paths:` line (issue 16): read from the markdown tree, narrowing what its sparse
// worktree shows; and the prompt telling the agent what it can see.
import { describe, expect, it } from '@jest/globals'
import { getInputs } from '../src/action/inputs.js'
import { renderPrompt } from '../src/core/agents/prompt.js'
import { parseTaskList, TaskListError } from '../src/core/tasks/parse.js'

const paths = (md: string) => parseTaskList(md).tasks.map((t) => [t.id, t.paths])

describe('paths: lines', () => {
  it('reads a paths: line after the title, in a later paragraph or as a nested item', () => {
    expect(
      paths(
        [
          '- [ ] T1: Fix the API client',
          '  paths: packages/api, packages/shared',
          '- [ ] Docs only',
          '',
          '  Some detail.',
          '',
          '  Paths: `docs` /site/',
          '- [ ] T3: Nested',
          '  - paths: tools/lint',
          '  - [ ] paths: not/a/line (a checkbox is a detail)',
          '- [ ] T4: No paths here, paths: in the title is just text'
        ].join('\n')
      )
    ).toEqual([
      ['T1', ['packages/api', 'packages/shared']],
      ['T2', ['docs', 'site']],
      ['T3', ['tools/lint']],
      ['T4', undefined]
    ])
  })

  it('ignores paths: in code blocks and keeps the line in the body the agent reads', () => {
    const [task] = parseTaskList(
      '- [ ] T1: Code\n\n  ```\n  paths: not/this\n  ```\n\n  paths: src\n'
    ).tasks
    expect(task.paths).toEqual(['src'])
    expect(task.body).toContain('paths: src')
  })

  it('refuses a paths: line that is not directories, naming the task', () => {
    expect(() => parseTaskList('- [ ] T1: Glob\n  paths: src/*.ts\n')).toThrow(TaskListError)
    expect(() => parseTaskList('- [ ] T1: Glob\n  paths: src/*.ts\n')).toThrow(
      /Task T1 \(item 1\), its paths: line: "src\/\*\.ts" is not a directory/
    )
    expect(() => parseTaskList('- [ ] T1: Up\n  paths: ../secrets\n')).toThrow(/not a directory/)
    expect(() => parseTaskList('- [ ] T1: Empty\n  paths:\n')).toThrow(
      /Task T1 \(item 1\) has a paths: line that names no directory/
    )
  })
})

describe('the prompt of a sparse worktree', () => {
  const ctx = {
    issue: { number: 3, title: 'Monorepo' },
    task: parseTaskList('- [ ] T1: Fix it\n  paths: packages/api\n').tasks[0],
    siblings: [],
    branch: 'fanout/issue-3/T1',
    baseBranch: 'main'
  }

  it('names the directories the agent can see, fenced as data', () => {
    const prompt = renderPrompt({ ...ctx, sparse: ['packages/api', 'docs'] })
    expect(prompt).toContain('## What this worktree holds')
    expect(prompt).toMatch(/```text\npackages\/api\/\ndocs\/\n```/)
    expect(prompt).toContain('do not recreate, move or\ndelete it')
  })

  it('says nothing of it for a full worktree', () => {
    expect(renderPrompt(ctx)).not.toContain('What this worktree holds')
  })
})

describe('the sparse-checkout input', () => {
  const read =
    (values: Record<string, string>) =>
    (name: string): string =>
      ({ 'agent-command': 'true', 'github-token': 'x', ...values })[name] ?? ''

  it('is a list of directories, one per line, as actions/checkout takes it', () => {
    expect(getInputs(read({ 'sparse-checkout': 'packages/api\n/docs/\n' })).sparseCheckout).toEqual(
      ['packages/api', 'docs']
    )
    expect(getInputs(read({})).sparseCheckout).toBeUndefined()
  })

  it('refuses a pattern that is not a directory, naming the input', () => {
    expect(() => getInputs(read({ 'sparse-checkout': '!docs' }))).toThrow(
      /Input sparse-checkout: "!docs" is not a directory/
    )
  })
})
