// A small stand-in of the Actions artifact service that @actions/artifact 6 talks to: the
// results service's Twirp JSON methods (CreateArtifact, FinalizeArtifact) at ACTIONS_RESULTS_URL
// and the signed blob URL it hands out (Azure block-blob uploads: staged blocks, then the block
// list). It keeps what was uploaded, so tests read the artifact as a user would download it.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StoredArtifact {
  id: number
  name: string
  content: Buffer
  finalized: boolean
  /** The backend IDs the client sent (from the runtime token's scope). */
  runBackendId: string
}

const TWIRP = '/twirp/github.actions.results.api.v1.ArtifactService/'

/** A runtime token the client accepts: a JWT whose scope names the run's backend IDs. */
export function fakeRuntimeToken(runId = 'run-backend-1', jobId = 'job-backend-1'): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ scp: `Actions.GenericRead:x Actions.Results:${runId}:${jobId}` })}.sig`
}

export class FakeArtifacts {
  artifacts: StoredArtifact[] = []
  private blocks = new Map<string, Map<string, Buffer>>()
  private server: http.Server
  private base = ''

  private constructor() {
    this.server = http.createServer((req, res) => void this.handle(req, res))
  }

  static async start(): Promise<FakeArtifacts> {
    const fake = new FakeArtifacts()
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve))
    fake.base = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`
    return fake
  }

  /** The env a runner gives a step for this service. */
  env(): Record<string, string> {
    return { ACTIONS_RESULTS_URL: `${this.base}/`, ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken() }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const url = new URL(req.url ?? '/', this.base)
    const json = (status: number, value: object): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(value))
    }
    if (req.method === 'POST' && url.pathname.startsWith(TWIRP)) {
      const data = JSON.parse(body.toString() || '{}') as Record<string, string>
      const method = url.pathname.slice(TWIRP.length)
      if (method === 'CreateArtifact') {
        if (this.artifacts.some((a) => a.name === data.name))
          return json(409, { code: 'already_exists', msg: 'an artifact with this name exists' })
        const id = this.artifacts.length + 1
        this.artifacts.push({
          id,
          name: data.name,
          content: Buffer.alloc(0),
          finalized: false,
          runBackendId: data.workflow_run_backend_id
        })
        return json(200, {
          ok: true,
          signed_upload_url: `${this.base}/blob/${id}?sig=fake-signature`
        })
      }
      if (method === 'FinalizeArtifact') {
        const artifact = this.artifacts.find((a) => a.name === data.name)
        if (!artifact) return json(404, { code: 'not_found', msg: 'no such artifact' })
        artifact.finalized = true
        return json(200, { ok: true, artifact_id: String(artifact.id) })
      }
      return json(404, { code: 'bad_route', msg: method })
    }
    const blob = /^\/blob\/(\d+)$/.exec(url.pathname)
    if (req.method === 'PUT' && blob) {
      const artifact = this.artifacts.find((a) => a.id === Number(blob[1]))
      if (!artifact) return json(404, {})
      const blocks = this.blocks.get(blob[1]) ?? new Map<string, Buffer>()
      this.blocks.set(blob[1], blocks)
      const comp = url.searchParams.get('comp')
      if (comp === 'block') blocks.set(url.searchParams.get('blockid') ?? '', body)
      else if (comp === 'blocklist') {
        const ids = [...body.toString().matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]*)</g)]
        artifact.content = Buffer.concat(ids.map((m) => blocks.get(m[1]) ?? Buffer.alloc(0)))
      } else artifact.content = body
      res.writeHead(201, {
        etag: '"0x1"',
        'last-modified': new Date().toUTCString(),
        'x-ms-request-id': 'fake',
        'x-ms-version': '2024-11-04',
        'content-length': '0'
      })
      res.end()
      return
    }
    json(404, { message: 'not found' })
  }
}
