// Why: the runner starts this process with the token (INPUT_GITHUB-TOKEN), ACTIONS_RUNTIME_TOKEN
// and the like in its environment, and an agent (same user) can read that initial block from
// /proc/<pid>/environ for as long as the process lives: changing process.env does not rewrite
// it, only an exec does. So before doing anything else the process re-executes itself (same
// PID, stdio, argv and signals for the runner) without the variables agents are denied
// (withheldFromAgents), handing them to the new image on fd 3, opened by /bin/sh from a 0600
// file that the new image deletes at once: never through argv or the environment. The new
// image puts them back into process.env, in memory only, where @actions/core and the rest of
// the code read them as before. The post step goes through the same: an agent that escaped
// the main step can still be running then.
//
// index.ts imports this module first, so it runs before any other module is evaluated.
import * as core from '@actions/core'
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { withheldFromAgents } from '../core/agents/env.js'

/** Set in the re-executed image only: the path of the file its fd 3 was opened from. */
const SEALED_MARKER = 'AGENT_FANOUT_SEALED_ENV'
const SHELL = '/bin/sh'
const FD = 3

type Execve = (file: string, args: string[], env: Record<string, string>) => never

/** Re-executes the process without its secrets in the environment block, or restores them. */
function sealEnvironment(): void {
  const handedOver = process.env[SEALED_MARKER]
  if (handedOver !== undefined) {
    restore(handedOver)
    return
  }
  const execve = (process as unknown as { execve?: Execve }).execve
  const script = process.argv[1]
  if (typeof execve !== 'function' || !script || !canExecute(SHELL)) {
    core.debug(
      'process.execve (Node >= 22.15) or /bin/sh is not available: the secrets stay in this process environment block'
    )
    return
  }
  // Both tokens: a variable holding either (a GH_TOKEN set from the same secret) is sealed too.
  const tokens = ['INPUT_GITHUB-TOKEN', 'INPUT_PR-TOKEN'].map((n) => (process.env[n] ?? '').trim())
  const sealed: Record<string, string> = {}
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (withheldFromAgents(name, value, tokens)) sealed[name] = value
    else kept[name] = value
  }
  if (Object.keys(sealed).length === 0) return

  let dir: string | undefined
  try {
    // mkdtemp makes the directory 0700; the file is created 0600 and exclusively.
    dir = mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'agent-fanout-seal-'))
    const file = path.join(dir, 'env.json')
    writeFileSync(file, JSON.stringify(sealed), { mode: 0o600, flag: 'wx' })
    kept[SEALED_MARKER] = file
    // Node opens files close-on-exec, so a shell redirection opens fd 3 for the new image.
    // A failed execve aborts Node (it has already run its exit hooks), hence canExecute above.
    execve(
      SHELL,
      [
        'sh',
        '-c',
        `file=$1; shift; exec "$@" ${FD}<"$file"`,
        'agent-fanout',
        file,
        process.execPath,
        ...process.execArgv,
        script,
        ...process.argv.slice(2)
      ],
      kept
    )
  } catch (error) {
    if (dir) rmSync(dir, { recursive: true, force: true })
    core.warning(
      `Could not re-execute without the secrets in the environment block: ${String(error)}`
    )
  }
}

/** In the re-executed image: read fd 3, close it, delete the file, put the variables back. */
function restore(file: string): void {
  delete process.env[SEALED_MARKER]
  let sealed: Record<string, string>
  try {
    // fd 3 must be the file the marker names, not some descriptor a parent happened to pass on.
    const held = fstatSync(FD)
    const named = statSync(file)
    if (held.dev !== named.dev || held.ino !== named.ino) throw new Error(`fd ${FD} is not ${file}`)
    try {
      sealed = JSON.parse(readFileSync(FD, 'utf8')) as Record<string, string>
    } finally {
      closeSync(FD)
      unlinkSync(file)
      rmdirSync(path.dirname(file))
    }
  } catch (error) {
    core.setFailed(`Could not take over the environment handed over at re-exec: ${String(error)}`)
    process.exit(1)
  }
  Object.assign(process.env, sealed)
  core.debug(
    `Re-executed with ${Object.keys(sealed).length} variables (${Object.keys(sealed).join(', ')}) out of the environment block`
  )
}

function canExecute(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

sealEnvironment()
