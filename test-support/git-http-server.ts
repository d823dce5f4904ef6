// A private git remote over HTTP on 127.0.0.1: git's own `git http-backend` (CGI) behind a small
// Node server that answers 401 to any request without the right token, as GitHub does for a
// private repository. Serves (fetch and push) the bare repositories under one directory.
import { spawn } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'

export interface GitHttpServer {
  /** http://127.0.0.1:<port>/<name>, for a bare repository `<root>/<name>`. */
  url(name: string): string
  /** The Authorization header of every request, in order (undefined: none sent). */
  readonly authorizations: (string | undefined)[]
  /** The bodies of the authorised requests (ungzipped): what the clients asked for. */
  readonly bodies: string[]
  stop(): Promise<void>
}

/** The Basic credentials the action sends for `token` (remote.ts tokenAuthConfig). */
export function basicToken(token: string): string {
  return `basic ${Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64')}`
}

export async function startGitHttpServer(opts: {
  root: string
  token: string
}): Promise<GitHttpServer> {
  const authorizations: (string | undefined)[] = []
  const bodies: string[] = []
  const expected = basicToken(opts.token).toLowerCase()
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization
    authorizations.push(auth)
    if (auth?.toLowerCase() !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="private"' }).end('Unauthorized\n')
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const gzipped = req.headers['content-encoding'] === 'gzip'
      bodies.push((gzipped ? gunzipSync(body) : body).toString('latin1'))
    })
    serveCgi(opts.root, req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    authorizations,
    bodies,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** One request through `git http-backend`, as a web server runs a CGI program. */
function serveCgi(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    // Authenticated: pushes are allowed (http-backend refuses receive-pack without a user).
    REMOTE_USER: 'x-access-token',
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
    GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    HOME: path.join(root, '.home-unused')
  }
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length']
  const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'inherit'] })
  req.pipe(cgi.stdin)
  let head = Buffer.alloc(0)
  let headersDone = false
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk)
      return
    }
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) return
    headersDone = true
    let status = 200
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).trim()
      const value = line.slice(colon + 1).trim()
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10)
      else res.setHeader(name, value)
    }
    res.writeHead(status)
    res.write(head.subarray(end + 4))
  })
  cgi.stdout.on('end', () => res.end())
  cgi.on('error', () => res.writeHead(500).end())
}
