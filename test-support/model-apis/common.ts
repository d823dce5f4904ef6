// What the model-API stand-ins share: an HTTP server on 127.0.0.1 that records every request,
// checks its credential, answers scripted faults (429, 529, ...) on demand, bills a fixed number
// of tokens per answer so that tests can predict what a CLI reports, and finds the task a
// request is for in the prompt agent-fanout wrote ("# Task <id> from issue #<n>").
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import zlib from 'node:zlib'

export interface RecordedRequest {
  method: string
  /** Path with query, as sent. */
  url: string
  headers: http.IncomingHttpHeaders
  /** The parsed JSON body, or the text when it is not JSON, or undefined when empty. */
  body: unknown
  /** The status the stand-in answered with. */
  status: number
  /** The task the request is for, when its prompt names one. */
  taskId?: string
  /** What the stand-in answered: a tool call, the final answer, a fault, ... */
  answer: string
}

/** A scripted failure: the next `count` matching requests get `status` instead of an answer. */
export interface Fault {
  status: number
  count: number
  /** Only requests for this task (default: any request). */
  taskId?: string
  /** Sent as the retry-after header (seconds). */
  retryAfterSeconds?: number
  /** Requests whose body holds this text are answered normally (e.g. a retry's worktree path). */
  spare?: string
}

export interface Usage {
  inputTokens: number
  outputTokens: number
}

export interface StandInOptions {
  /** The only credential accepted; a request without it is answered 401 and recorded. */
  apiKey: string
  /** Tokens billed for every answer (default 1000 in, 50 out). */
  usage?: Usage
  /** The file a task's agent is told (by the scripted tool call) to write. */
  fileFor?: (taskId: string) => { path: string; content: string }
}

/** The task ID in agent-fanout's prompt heading, e.g. "# Task T3 from issue #12". */
export const TASK_HEADING = /# Task (\S+) from issue #\d+/

/** Default file written for a task: task-<id>.txt holding one line that names the task. */
export function defaultFileFor(taskId: string): { path: string; content: string } {
  return { path: `task-${taskId.toLowerCase()}.txt`, content: `written for ${taskId}\n` }
}

/** Base of the Anthropic and OpenAI stand-ins: listening, recording, auth, faults, billing. */
export abstract class ModelApiStandIn {
  readonly requests: RecordedRequest[] = []
  readonly usage: Usage
  protected readonly faults: Fault[] = []
  protected readonly fileFor: (taskId: string) => { path: string; content: string }
  private server?: http.Server
  private port = 0

  constructor(protected readonly options: StandInOptions) {
    this.usage = options.usage ?? { inputTokens: 1000, outputTokens: 50 }
    this.fileFor = options.fileFor ?? defaultFileFor
  }

  /** e.g. http://127.0.0.1:41234 (no trailing slash, no /v1). */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.receive(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(String(error))
      })
    })
    this.server.on('upgrade', (req: http.IncomingMessage, socket) => this.upgrade(req, socket))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async stop(): Promise<void> {
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
    this.server = undefined
  }

  /** Scripts a failure for the next `count` matching requests. */
  fail(fault: Fault): void {
    this.faults.push({ ...fault })
  }

  /** Requests answered for a task, and what they billed. */
  billed(taskId: string): Usage & { answers: number } {
    const answered = this.requests.filter((r) => r.taskId === taskId && r.status === 200)
    return {
      answers: answered.length,
      inputTokens: answered.length * this.usage.inputTokens,
      outputTokens: answered.length * this.usage.outputTokens
    }
  }

  /** The credential a request carries, in the API's own header. */
  protected abstract credential(req: http.IncomingMessage): string | undefined
  /** Answers one authenticated request that is not a fault; returns a word for the record. */
  protected abstract answer(
    req: http.IncomingMessage,
    body: unknown,
    taskId: string | undefined,
    res: http.ServerResponse
  ): Promise<string> | string
  /** The API's error body for a status. */
  protected abstract errorBody(status: number, message: string): object

  /** A WebSocket upgrade is refused (recorded): the stand-ins speak plain HTTP. */
  protected upgrade(req: http.IncomingMessage, socket: import('node:stream').Duplex): void {
    this.requests.push({
      method: req.method ?? 'GET',
      url: req.url ?? '',
      headers: req.headers,
      body: undefined,
      status: 404,
      answer: 'websocket refused'
    })
    socket.on('error', () => {})
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
  }

  private async receive(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = decode(await readAll(req), req.headers['content-encoding'])
    let body: unknown
    const text = raw.toString('utf8')
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    const taskId = TASK_HEADING.exec(text)?.[1]
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '',
      headers: req.headers,
      body,
      status: 200,
      taskId,
      answer: ''
    }
    this.requests.push(record)
    if (this.credential(req) !== this.options.apiKey) {
      record.status = 401
      record.answer = 'unauthorized'
      return this.sendError(res, 401, 'invalid or missing API key (agent-fanout stand-in)')
    }
    const fault = this.faults.find(
      (f) =>
        f.count > 0 &&
        (!f.taskId || f.taskId === taskId) &&
        !(f.spare !== undefined && text.includes(f.spare))
    )
    if (fault) {
      fault.count--
      record.status = fault.status
      record.answer = `fault ${fault.status}`
      return this.sendError(
        res,
        fault.status,
        `scripted ${fault.status} (agent-fanout stand-in)`,
        fault.retryAfterSeconds
      )
    }
    record.answer = await this.answer(req, body, taskId, res)
    record.status = res.statusCode
  }

  protected sendError(
    res: http.ServerResponse,
    status: number,
    message: string,
    retryAfterSeconds?: number
  ): void {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds)
    res.writeHead(status, headers)
    res.end(JSON.stringify(this.errorBody(status, message)))
  }
}

/** Server-sent events: `event: <type>` and `data: <json>` per event. */
export function sse(res: http.ServerResponse, events: { type: string }[]): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive'
  })
  for (const event of events) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
  res.end()
}

export function json(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

async function readAll(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Request bodies may come compressed (Codex compresses with zstd). */
function decode(raw: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
      return zlib.gunzipSync(raw)
    case 'deflate':
      return zlib.inflateSync(raw)
    case 'br':
      return zlib.brotliDecompressSync(raw)
    case 'zstd': {
      const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer })
        .zstdDecompressSync
      if (!zstd) throw new Error('a zstd-compressed request needs Node >= 22.15 to read')
      return zstd(raw)
    }
    default:
      return raw
  }
}

/** Every text string in a JSON value (prompt texts wherever the API nests them). */
export function textsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value)
  else if (Array.isArray(value)) for (const item of value) textsIn(item, out)
  else if (value && typeof value === 'object')
    for (const item of Object.values(value)) textsIn(item, out)
  return out
}
