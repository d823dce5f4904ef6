// The `agent` input through the bundled action, with stand-in CLIs on PATH (small scripts named
// like the real ones): what command line a preset runs, what environment its agents get, and
// what stays out of the task commits. The real CLIs are exercised by `npm run test:agents`.
import { describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  cloneWorkspace,
  createOrigin,
  git,
  isolatedGitEnv,
  tempDir
} from '../../test-support/git-fixtures.js'
import { nodeBinary, REPO_ROOT } from '../../test-support/run-action.js'
import { act, FILES, INTEGRATION, statuses, useCleanup, world } from '../adversarial/support.js'

useCleanup()

/** A directory holding an executable `name` that runs `script` (bash). */
async function fakeCli(name: string, script: string): Promise<string> {
  const dir = await tempDir(`fake-${name}`)
  await writeFile(path.join(dir, name), `#!/usr/bin/env bash\nset -eu\n${script}\n`)
  await chmod(path.join(dir, name), 0o755)
  return dir
}

describe('agent presets in the action', () => {
  it('aider: its .aider* files never reach the task commits; the prompt comes as --message-file', async () => {
    const w = await world('- [ ] T1: One\n- [ ] T2: Two\n')
    const bin = await fakeCli(
      'aider',
      [
        'printf "%s\\n" "$@" > "$SCRATCH/args-$TASK_ID"',
        'echo "done $TASK_ID" > "out-$TASK_ID.txt"',
        // What aider leaves behind: chat and input history, its tags cache, here and below.
        'echo history > .aider.chat.history.md',
        'echo input > .aider.input.history',
        'mkdir -p .aider.tags.cache.v4 src && echo cache > .aider.tags.cache.v4/cache.db',
        'echo nested > src/.aider.chat.history.md'
      ].join('\n')
    )
    const r = await act(w, '', {
      inputs: { agent: 'aider', 'agent-args': '--model sonnet' },
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ANTHROPIC_API_KEY: 'sk-ant-fake' }
    })
    expect(statuses(r)).toEqual([
      ['T1', 'merged'],
      ['T2', 'merged']
    ])
    const tree = await git(w.origin.bareDir, ['ls-tree', '-r', '--name-only', INTEGRATION], w.env)
    expect(tree.split('\n').sort()).toEqual(
      [...Object.keys(FILES), 'out-T1.txt', 'out-T2.txt'].sort()
    )
    const args = (await readFile(path.join(w.scratch, 'args-T1'), 'utf8')).trim().split('\n')
    expect(args).toEqual(
      expect.arrayContaining(['--yes-always', '--no-gitignore', '--model', 'sonnet'])
    )
    const promptFile = args[args.indexOf('--message-file') + 1]
    expect(await readFile(promptFile, 'utf8')).toContain('# Task T1 from issue #12')
    expect(promptFile).toMatch(/\/agent-fanout\/issue-12\/prompts\/T1\.md$/)
  })

  it('claude-code: each agent gets its own config dir outside its worktree, and no token', async () => {
    const w = await world('- [ ] T1: One\n- [ ] T2: Two\n- [ ] T3: Three\n')
    const bin = await fakeCli(
      'claude',
      [
        'env > "$SCRATCH/env-$TASK_ID"',
        'cat > "$SCRATCH/prompt-$TASK_ID"',
        'printf "%s\\n" "$@" > "$SCRATCH/args-$TASK_ID"',
        // The real one keeps .claude.json and its projects (memory included) in this directory.
        'echo "{}" > "$CLAUDE_CONFIG_DIR/.claude.json"',
        'echo "x" > "claude-$TASK_ID.txt"'
      ].join('\n')
    )
    const r = await act(w, '', {
      inputs: { agent: 'claude-code' },
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ANTHROPIC_API_KEY: 'sk-ant-fake' }
    })
    expect(statuses(r).map(([, status]) => status)).toEqual(['merged', 'merged', 'merged'])
    const envs = await Promise.all(
      ['T1', 'T2', 'T3'].map(async (id) =>
        Object.fromEntries(
          (await readFile(path.join(w.scratch, `env-${id}`), 'utf8'))
            .split('\n')
            .filter((line) => line.includes('='))
            .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
        )
      )
    )
    const dirs = envs.map((env) => env.CLAUDE_CONFIG_DIR)
    expect(new Set(dirs).size).toBe(3)
    for (const [i, env] of envs.entries()) {
      expect(dirs[i]).toBe(
        path.join(r.runnerTemp, 'agent-fanout', 'issue-12', 'agent-state', `T${i + 1}`, 'claude')
      )
      expect(dirs[i].startsWith(env.TASK_WORKTREE)).toBe(false)
      expect(env).toMatchObject({
        CLAUDE_CODE_DISABLE_AUTO_MEMORY: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ANTHROPIC_API_KEY: 'sk-ant-fake'
      })
      expect(Object.values(env).filter((v) => v.includes(w.api.token))).toEqual([])
    }
    // The prompt arrives on stdin; the permission mode lets it write files.
    expect(await readFile(path.join(w.scratch, 'prompt-T2'), 'utf8')).toContain(
      '# Task T2 from issue #12'
    )
    expect(await readFile(path.join(w.scratch, 'args-T2'), 'utf8')).toContain('acceptEdits')
    // Gone after the run: nothing of it is left for a later run on the same runner.
    await mkdir(path.join(r.runnerTemp, 'agent-fanout', 'issue-12', 'agent-state'), {
      recursive: true
    })
    expect(
      await readdir(path.join(r.runnerTemp, 'agent-fanout', 'issue-12', 'agent-state'))
    ).toEqual([])
  })

  it('a preset without its key stops the run before any agent, naming the variable', async () => {
    const w = await world('- [ ] T1: One\n')
    const bin = await fakeCli('claude', 'echo started > "$SCRATCH/started"')
    const r = await act(w, '', {
      inputs: { agent: 'claude-code' },
      env: { PATH: `${bin}:${process.env.PATH ?? ''}` }
    })
    expect(r.exitCode).toBe(1)
    expect(r.errors.join('\n')).toContain('set ANTHROPIC_API_KEY or')
    expect(await readdir(w.scratch)).toEqual([])
  })
})

describe('agent presets in the local CLI', () => {
  const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js')
  const runCli = promisify(execFile)

  async function local(args: string[], env: NodeJS.ProcessEnv) {
    const origin = await createOrigin({ 'README.md': '# x\n' })
    const repo = await cloneWorkspace(origin, { depth: 0 })
    const issueFile = path.join(await tempDir('cli-issue'), 'tasks.md')
    await writeFile(issueFile, '# Local issue\n\n- [ ] T1: first\n- [ ] T2: second\n')
    const gitEnv = { ...isolatedGitEnv(origin.home), ...env }
    const result = await runCli(
      nodeBinary(),
      [CLI, 'run', '--issue-file', issueFile, '--repo', repo, '--json', ...args],
      { env: gitEnv }
    ).catch((e: { code: number; stdout: string; stderr: string }) => e)
    return { code: 'code' in result ? result.code : 0, ...result, repo, gitEnv }
  }

  it('--agent-preset claude-code runs claude in acceptEdits mode with the prompt on stdin', async () => {
    const bin = await fakeCli(
      'claude',
      'printf "%s " "$@" > "claude-$TASK_ID.txt"; grep -c "# Task $TASK_ID from issue" >> "claude-$TASK_ID.txt"'
    )
    const r = await local(['--agent-preset', 'claude-code', '--agent-args=--model sonnet'], {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      ANTHROPIC_API_KEY: 'sk-ant-fake'
    })
    expect(r.code).toBe(0)
    expect(r.stderr).not.toMatch(/warning|error/) // progress only
    expect(await git(r.repo, ['show', 'fanout/issue-1/integration:claude-T2.txt'], r.gitEnv)).toBe(
      '-p --permission-mode acceptEdits --output-format stream-json --verbose --model sonnet 1'
    )
  })

  it('--agent wins over --agent-preset; a preset without its key is refused with exit 2', async () => {
    const won = await local(['--agent-preset', 'codex', '--agent', 'echo x > "$TASK_ID.txt"'], {})
    expect(won.code).toBe(0)
    const refused = await local(['--agent-preset', 'codex'], {})
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(
      '--agent-preset: codex needs its API key in the environment: set CODEX_API_KEY or OPENAI_API_KEY'
    )
  })
})
