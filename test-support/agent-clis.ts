// The real agent CLIs for the test:agents suite, installed from the npm registry at pinned
// versions into a cache outside the project (never into node_modules), once per machine. A CLI
// that cannot be installed or started here comes back with the reason, for the suite to skip
// with that reason in its output (never a silent pass).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const PINNED_CLIS = {
  'claude-code': { pkg: '@anthropic-ai/claude-code', version: '2.1.332', bin: 'claude' },
  codex: { pkg: '@openai/codex', version: '0.171.0', bin: 'codex' },
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' }
} as const

export type CliName = keyof typeof PINNED_CLIS

export type InstalledCli =
  { ok: true; binDir: string; version: string } | { ok: false; reason: string }

/** AGENT_FANOUT_CLI_CACHE, or ~/.cache/agent-fanout-clis. */
export function cliCacheDir(): string {
  return (
    process.env.AGENT_FANOUT_CLI_CACHE || path.join(os.homedir(), '.cache', 'agent-fanout-clis')
  )
}

/** Installs (if needed) and starts `<cli> --version`; the bin directory to put on PATH. */
export async function installCli(name: CliName): Promise<InstalledCli> {
  const { pkg, version, bin } = PINNED_CLIS[name]
  const prefix = path.join(cliCacheDir(), `${name}@${version}`)
  const binDir = path.join(prefix, 'node_modules', '.bin')
  try {
    if (!existsSync(path.join(binDir, bin))) {
      await mkdir(prefix, { recursive: true })
      // Its own prefix: the project's node_modules and lockfile are never touched. The CLIs'
      // platform binaries come as optional dependencies; Claude Code's postinstall links its own.
      await run(
        'npm',
        ['install', '--no-audit', '--no-fund', '--prefix', prefix, `${pkg}@${version}`],
        { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }
      )
    }
  } catch (error) {
    return { ok: false, reason: `npm install ${pkg}@${version} failed: ${firstLine(error)}` }
  }
  try {
    const { stdout } = await run(path.join(binDir, bin), ['--version'], {
      timeout: 60_000,
      env: { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}` }
    })
    if (!stdout.includes(version))
      return { ok: false, reason: `${bin} --version printed "${stdout.trim()}", not ${version}` }
    return { ok: true, binDir, version }
  } catch (error) {
    return { ok: false, reason: `${bin} --version failed here: ${firstLine(error)}` }
  }
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string }
  return (e.stderr?.trim() || e.message || String(error)).split('\n').slice(0, 3).join(' | ')
}
