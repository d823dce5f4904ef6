// A forward proxy that refuses everything and records what it was asked for. Pointed at by
// HTTP_PROXY/HTTPS_PROXY/ALL_PROXY (with NO_PROXY covering 127.0.0.1), it shows every connection
// a CLI tries to make beyond the local stand-ins: telemetry, update checks, plugin syncs.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ProxyAttempt {
  method: string
  /** host:port for CONNECT, the absolute URL otherwise. */
  target: string
}

export class RefusingProxy {
  readonly attempts: ProxyAttempt[] = []
  private server?: http.Server
  private port = 0

  static async start(): Promise<RefusingProxy> {
    const proxy = new RefusingProxy()
    proxy.server = http.createServer((req, res) => {
      proxy.attempts.push({ method: req.method ?? 'GET', target: req.url ?? '' })
      res.writeHead(403, { 'content-type': 'text/plain' })
      res.end('refused by the agent-fanout test proxy\n')
    })
    proxy.server.on('connect', (req: http.IncomingMessage, socket) => {
      proxy.attempts.push({ method: 'CONNECT', target: req.url ?? '' })
      socket.on('error', () => {})
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
    })
    proxy.server.on('clientError', (_error, socket) => socket.destroy())
    await new Promise<void>((resolve) => proxy.server!.listen(0, '127.0.0.1', resolve))
    proxy.port = (proxy.server.address() as AddressInfo).port
    return proxy
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** The variables that send a process's outside traffic here, and loopback traffic direct. */
  get env(): Record<string, string> {
    return {
      HTTP_PROXY: this.url,
      HTTPS_PROXY: this.url,
      ALL_PROXY: this.url,
      http_proxy: this.url,
      https_proxy: this.url,
      all_proxy: this.url,
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost'
    }
  }

  async stop(): Promise<void> {
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
    this.server = undefined
  }
}
