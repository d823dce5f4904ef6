// A whole run (runFanout) with overlay worktrees and a setup-command: the set-up runs once in
// the shared base and every agent sees its result, what it made stays out of the commits, the
// integration tree is the one checkout mode makes, the report counts each task's disk, a failing
// set-up fails every task before any agent with its log tail, and no mount outlives the run.
import { afterAll, describe, expect, it } from '@jest/globals'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { runFanout, type EngineOptions } from '../src/core/engine.js'
import { Git } from '../src/core/git/git.js'
import { mountAbility, mountsUnder } from '../src/core/git/overlay.js'
import { releaseOverlays } from '../src/core/git/overlay-layers.js'
import { memoryLogger } from '../src/core/logger.js'
import { renderReport } from '../src/core/report/markdown.js'
import { parseTaskList } from '../src/core/tasks/parse.js'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  removeTempDirs,
  tempDir
} from '../test-support/git-fixtures.js'

// Known when the tests are named, so a skip says why in the test's own name.
const unavailable = (await mountAbility(await tempDir('run-probe'))).via
  ? ''
  : ' (skipped: overlay mounts are not possible here)'
const workDirs: string[] = []
afterAll(async () => {
  for (const dir of workDirs)
    await releaseOverlays(path.join(dir, 'worktrees')).catch(() => undefined)
  await removeTempDirs()
})

const TOKEN = 'ghs_overlayRunTokenNeverSeen0123456789'
const ISSUE = '- [ ] One\n- [ ] Two\n- [ ] Three\n- [ ] Four\n'

async function fanout(mode: 'overlay' | 'checkout', extra: Partial<EngineOptions> = {}) {
  const origin = await createOrigin({
    '.gitignore': 'node_modules/\n',
    'README.md': '# x\n',
    'src/app.txt': 'app\n'
  })
  const workspace = await cloneWorkspace(origin, { depth: 1 })
  const env = isolatedGitEnv(origin.home)
  const scratch = await tempDir('overlay-run-scratch')
  const identity = { name: 'Fanout Test', email: 'fanout@test.invalid' }
  const g = new Git(workspace, { env, identity })
  const workDir = path.join(scratch, 'work')
  workDirs.push(workDir)
  const logger = memoryLogger()
  const result = await runFanout({
    git: g,
    logger,
    issue: { number: 7, title: 'Overlay' },
    tasks: parseTaskList(ISSUE).tasks,
    baseBranch: 'main',
    baseSha: await g.out(['rev-parse', 'HEAD']),
    // Each agent proves it sees the set-up's output, and writes a file of its own.
    agentCommand:
      'cat node_modules/dep/index.js > "$SCRATCH/seen-$TASK_ID"; echo "$TASK_TITLE" > "out-$TASK_ID.txt"',
    maxParallel: 4,
    taskTimeoutMs: 60_000,
    killGraceMs: 500,
    branchPrefix: 'fanout/issue-7',
    workDir,
    identity,
    agentBaseEnv: { ...env, SCRATCH: scratch, GH_TOKEN: TOKEN },
    secrets: [TOKEN],
    worktreeMode: mode,
    // Counts its runs, leaves an ignored folder, an untracked folder and file, and a changed
    // tracked file; and records whether it saw the token.
    setupCommand:
      'echo x >> "$SCRATCH/setup-runs"; mkdir -p node_modules/dep build; echo dep > node_modules/dep/index.js; echo out > build/out.txt; echo gen > generated.txt; echo changed > README.md; env > "$SCRATCH/setup-env"',
    ...extra
  })
  return { result, log: logger.lines, scratch, workspace, env, workDir }
}

describe('a run with overlay worktrees and a setup-command', () => {
  it(`runs the set-up once, merges the same tree as checkout mode, keeps set-up files out, counts disk, unmounts everything${unavailable}`, async () => {
    if (unavailable) return
    const overlay = await fanout('overlay')
    expect(overlay.log.join('\n')).toContain('Worktrees: overlay worktrees (worktree-mode: overlay')
    expect(overlay.result.tasks.map((t) => t.status)).toEqual(Array(4).fill('merged'))
    // Once, in the shared base; every agent saw its result; it never saw the token.
    expect((await readFile(path.join(overlay.scratch, 'setup-runs'), 'utf8')).trim()).toBe('x')
    for (const id of ['T1', 'T2', 'T3', 'T4'])
      expect(await readFile(path.join(overlay.scratch, `seen-${id}`), 'utf8')).toBe('dep\n')
    expect(await readFile(path.join(overlay.scratch, 'setup-env'), 'utf8')).not.toContain(TOKEN)
    // Only the tasks' own files were committed.
    const files = await git(
      overlay.workspace,
      ['diff', '--name-only', overlay.result.baseSha, overlay.result.integrationSha],
      overlay.env
    )
    expect(files.split('\n')).toEqual(['out-T1.txt', 'out-T2.txt', 'out-T3.txt', 'out-T4.txt'])
    // Each task's disk is what it changed: a few KiB, far below a checkout.
    for (const t of overlay.result.tasks) expect(t.diskBytes).toBeLessThan(64 * 1024)
    expect(renderReport(overlay.result, { issueNumber: 7 })).toMatch(
      /Disk used by the tasks' worktrees: [\d.]+ (B|KiB) in all/
    )
    expect(await mountsUnder(overlay.workDir)).toEqual([])

    const checkout = await fanout('checkout')
    expect(checkout.result.tasks.map((t) => t.status)).toEqual(Array(4).fill('merged'))
    // A set-up per worktree in checkout mode.
    expect((await readFile(path.join(checkout.scratch, 'setup-runs'), 'utf8')).trim()).toBe(
      'x\nx\nx\nx'
    )
    const tree = async (r: typeof overlay) =>
      git(r.workspace, ['rev-parse', `${r.result.integrationSha}^{tree}`], r.env)
    expect(await tree(overlay)).toBe(await tree(checkout))
    for (const t of checkout.result.tasks) expect(t.diskBytes).toBeGreaterThan(0)
  })

  it.each(['overlay', 'checkout'] as const)(
    `fails every task before any agent when the set-up fails, with its log tail (%s)${unavailable}`,
    async (mode) => {
      if (unavailable && mode === 'overlay') return
      const r = await fanout(mode, {
        setupCommand: 'echo "npm ERR! could not resolve dependency"; exit 7',
        agentCommand: 'touch "$SCRATCH/agent-$TASK_ID"'
      })
      expect(r.result.tasks.map((t) => t.status)).toEqual(Array(4).fill('failed'))
      for (const t of r.result.tasks) {
        expect(t.reason).toMatch(/setup-command exited with status 7/)
        expect(t.logTail).toContain('npm ERR! could not resolve dependency')
      }
      expect((await readdir(r.scratch)).filter((f) => f.startsWith('agent-'))).toEqual([])
      expect(r.result.integrationSha).toBe(r.result.baseSha)
      expect(await mountsUnder(r.workDir)).toEqual([])
    }
  )

  it(`finds a change made to the shared base behind the read-only mount, and merges nothing${unavailable}`, async () => {
    if (unavailable) return
    // The agent of T1 (as root) remounts the base writable and changes it: every task saw it.
    const r = await fanout('overlay', {
      setupCommand: undefined,
      agentCommand: [
        'echo "$TASK_TITLE" > "out-$TASK_ID.txt"',
        'if [ "$TASK_ID" = T1 ]; then base="$(dirname "$(dirname "$PWD")")/overlay/base"; mount -o remount,bind,rw "$base" && echo tampered > "$base/src/app.txt"; fi'
      ].join('\n')
    })
    expect(r.result.warnings?.join('\n')).toMatch(
      /shared base checkout of the overlay worktrees was changed while agents ran \(src\/app\.txt\)/
    )
    expect(r.result.tasks.map((t) => t.status)).toEqual(Array(4).fill('failed'))
    expect(r.result.integrationSha).toBe(r.result.baseSha)
    // Their work is kept on their branches.
    expect(await git(r.workspace, ['show', 'fanout/issue-7/T2:out-T2.txt'], r.env)).toBe('Two')
    expect(await mountsUnder(r.workDir)).toEqual([])
  })
})
