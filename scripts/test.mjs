// `npm test`: the whole suite with worktree-mode at its default (`auto`: overlay worktrees where
// this machine can mount them, checkouts otherwise), then the tests that make worktrees once
// more with checkouts forced, so both modes run every time (docs/worktrees.md). With arguments
// (`npm test -- <paths or jest flags>`) jest runs once, with them, in the default mode; set
// AGENT_FANOUT_WORKTREE_MODE=checkout|overlay to choose the mode of such a run.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js')
const env = {
  ...process.env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim(),
  NODE_NO_WARNINGS: '1'
}

/**
 * The suites whose outcome depends on how worktrees are made and that leave worktree-mode at its
 * default: the engine, the git and process adversarial suites, the CLI and repository e2e
 * suites. Suites that name their mode (overlay*, setup, repo-features, disk) already run both.
 */
export const WORKTREE_SUITES = [
  String.raw`__tests__/(engine|agent-retries|strategies|merge-attributes|precious|collect-index|dependents|start-commit)\.int\.test\.ts$`,
  String.raw`__tests__/worktrees\.stress\.test\.ts$`,
  String.raw`__tests__/adversarial/(collect|shared-git|git-state|disk-full|processes)\.adversarial\.test\.ts$`,
  String.raw`__tests__/e2e/(collect|repositories|refs-and-merges|cli)\.e2e\.test\.ts$`
]

function jestRun(args, extraEnv = {}) {
  const r = spawnSync(process.execPath, [jest, ...args], {
    cwd: root,
    env: { ...env, ...extraEnv },
    stdio: 'inherit'
  })
  return r.status ?? 1
}

const args = process.argv.slice(2)
if (args.length > 0) process.exit(jestRun(args))
const whole = jestRun([])
console.log('\nThe tests that make worktrees again, with checkout worktrees forced:\n')
const checkout = jestRun(['--testPathPatterns', WORKTREE_SUITES.join('|')], {
  AGENT_FANOUT_WORKTREE_MODE: 'checkout'
})
process.exit(whole || checkout)
