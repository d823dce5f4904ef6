// No connection outside 127.0.0.1, enforced rather than observed: the action (and every agent it
// starts) runs in a network namespace of its own whose only interface is its own loopback. The
// stand-ins stay in the test's namespace; for each of their ports a Unix socket (a path, which
// crosses namespaces) bridges to it, and netns-inner.mjs listens on the same port inside the
// namespace, so URLs like http://127.0.0.1:<port> work unchanged on both sides.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const INNER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'netns-inner.mjs')

/** Whether a namespace with only loopback can be made here (needs root and `unshare`, `ip`). */
export async function netnsAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await promisify(execFile)('unshare', ['-n', 'ip', 'link', 'set', 'lo', 'up'])
    return { ok: true }
  } catch (error) {
    return {
      ok: false,
      reason: `unshare -n fails here (${(error as Error).message.split('\n')[0]})`
    }
  }
}

/** Bridges from a fresh namespace to local TCP ports; `wrap` runs a command inside it. */
export class LoopbackBridge {
  private constructor(
    private readonly dir: string,
    private readonly ports: number[],
    private readonly servers: net.Server[]
  ) {}

  static async start(ports: number[]): Promise<LoopbackBridge> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'netns-bridge-'))
    const servers = await Promise.all(
      ports.map(
        (port) =>
          new Promise<net.Server>((resolve, reject) => {
            const server = net.createServer((inbound) => {
              const outbound = net.connect(port, '127.0.0.1')
              inbound.on('error', () => outbound.destroy())
              outbound.on('error', () => inbound.destroy())
              inbound.pipe(outbound).pipe(inbound)
            })
            server.once('error', reject)
            server.listen(path.join(dir, `${port}.sock`), () => resolve(server))
          })
      )
    )
    return new LoopbackBridge(dir, ports, servers)
  }

  /** The command line that runs `command args` in a fresh namespace with the bridges. */
  wrap(command: string, args: string[]): [string, string[]] {
    return [
      'unshare',
      [
        '-n',
        '--',
        process.execPath,
        INNER,
        this.dir,
        ...this.ports.map(String),
        '--',
        command,
        ...args
      ]
    ]
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined))))
    )
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** The port of a URL like http://127.0.0.1:41234/api. */
export function portOf(url: string): number {
  return Number(new URL(url).port)
}
