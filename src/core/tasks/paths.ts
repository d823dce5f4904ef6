import type { ListItem } from 'mdast'
import { toString } from 'mdast-util-to-string'
import { parseSparseDirs } from '../git/sparse.js'

/**
 * A task's `paths:` line: the directories of a monorepo its worktree shows (narrowing the run's
 * `sparse-checkout` input, git/sparse.ts). Read from the markdown tree of the item, not its raw
 * text: a line of the item's first paragraph after the title, a later paragraph, or a nested
 * list item that is not a checkbox, starting with `paths:` (any case). Directories are separated
 * by commas or spaces and may be written as code (`` `packages/api` ``).
 *
 *     - [ ] T1: Fix the API client
 *       paths: packages/api, packages/shared
 */
const PATHS_LINE = /^\s*paths:\s*(.*)$/i

/** The directories the item's `paths:` lines name (empty when none); errors name the task. */
export function taskPaths(item: ListItem, describe: () => string): string[] {
  const dirs: string[] = []
  const take = (line: string): void => {
    const match = PATHS_LINE.exec(line)
    if (!match) return
    const found = parseSparseDirs(match[1], `${describe()}, its paths: line`)
    if (found.length === 0)
      throw new Error(
        `${describe()} has a paths: line that names no directory. Write it as "paths: packages/api" or "paths: packages/api, docs".`
      )
    for (const dir of found) if (!dirs.includes(dir)) dirs.push(dir)
  }
  item.children.forEach((child, index) => {
    if (child.type === 'paragraph') {
      const lines = toString(child).split('\n')
      for (const line of index === 0 ? lines.slice(1) : lines) take(line)
    } else if (child.type === 'list') {
      for (const nested of child.children) {
        const first = nested.children[0]
        if (first?.type === 'paragraph' && typeof nested.checked !== 'boolean')
          take(toString(first).split('\n')[0])
      }
    }
  })
  return dirs
}
