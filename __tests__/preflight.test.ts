// Which existing branches are in the way of the branches a run needs (git stores refs as
// paths: `a/b` and `a/b/c` cannot both be branches), and the one message that says so.
import { describe, expect, it } from '@jest/globals'
import { branchClashMessage, codeSpan, findBranchClashes } from '../src/core/preflight.js'

const NEEDED = ['fanout/issue-1/integration', 'fanout/issue-1/T1', 'fanout/issue-1/T2']

describe('findBranchClashes', () => {
  it('finds branches above the needed names and below them, and nothing else', () => {
    expect(
      findBranchClashes(NEEDED, [
        'main',
        'fanout', // above every needed name
        'fanout/issue-1/T1', // the same name: the run moves it, no clash
        'fanout/issue-1/T2/old', // below T2
        'fanout/issue-10/T1', // a sibling prefix
        'fanout/issue-1/T10' // a sibling name
      ])
    ).toEqual([
      { needed: 'fanout/issue-1/integration', existing: 'fanout' },
      { needed: 'fanout/issue-1/T1', existing: 'fanout' },
      { needed: 'fanout/issue-1/T2', existing: 'fanout' },
      { needed: 'fanout/issue-1/T2', existing: 'fanout/issue-1/T2/old' }
    ])
    expect(findBranchClashes(NEEDED, ['main', 'fanout/issue-2/T1'])).toEqual([])
  })

  it('says it once, grouped by the branch in the way, with both ways out', () => {
    const message = branchClashMessage(findBranchClashes(NEEDED, ['fanout/issue-1', 'fanout']), {
      place: 'on origin',
      deleteHint: (b) => `git push origin --delete ${b}`
    })
    expect(message).toBe(
      'The branches this run needs clash with existing ones: the branch fanout/issue-1 on origin is in the way of fanout/issue-1/integration, fanout/issue-1/T1, fanout/issue-1/T2; the branch fanout on origin is in the way of fanout/issue-1/integration, fanout/issue-1/T1, fanout/issue-1/T2. git cannot hold a branch and another branch inside its name (a/b and a/b/c). Nothing was started. Delete or rename the branch in the way (git push origin --delete fanout/issue-1), or choose another branch prefix (the branch-prefix input, or --branch-prefix).'
    )
  })

  it('shows names as code spans on the issue, backticks in them included', () => {
    expect(codeSpan('fanout/issue-1')).toBe('`fanout/issue-1`')
    expect(codeSpan('a`b')).toBe('``a`b``')
    expect(codeSpan('`@x')).toBe('`` `@x ``')
  })
})
