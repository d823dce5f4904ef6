// A stand-in for the Gemini API (generateContent, streamGenerateContent?alt=sse) as Gemini CLI
// calls it through GOOGLE_GEMINI_BASE_URL, found by running Gemini CLI 0.61.0 against it:
// - first a routing call (generateContent on a "flash-lite" model, no tools, a JSON response
//   schema asking for a complexity score): answered with a low score, so the main model is used;
// - then the agent loop (streamGenerateContent with tools): for a request whose prompt is an
//   agent-fanout task, a `write_file` call creating the task's file in the workspace directory
//   the CLI names in its system prompt ("Workspace Directories: - /path"), then, once the
//   function response comes back, a short final answer.
// Every answer bills `usage` tokens (usageMetadata).
import type http from 'node:http'
import path from 'node:path'
import { json, ModelApiStandIn, textsIn, type StandInOptions } from './common.js'

const WORKSPACE = /Workspace Directories:\*{0,2}\s*\n\s*- (\/[^\n]+)/

interface GenerateRequest {
  contents?: { role?: string; parts?: { functionResponse?: unknown; text?: string }[] }[]
  tools?: unknown[]
  generationConfig?: { responseJsonSchema?: unknown; responseSchema?: unknown }
}

export class GeminiStandIn extends ModelApiStandIn {
  static start(options: StandInOptions): Promise<GeminiStandIn> {
    return new GeminiStandIn(options).start()
  }

  protected credential(req: http.IncomingMessage): string | undefined {
    const key = req.headers['x-goog-api-key']
    return typeof key === 'string' ? key : undefined
  }

  protected errorBody(status: number, message: string): object {
    const state =
      status === 401
        ? 'UNAUTHENTICATED'
        : status === 429
          ? 'RESOURCE_EXHAUSTED'
          : status === 503
            ? 'UNAVAILABLE'
            : 'INVALID_ARGUMENT'
    return { error: { code: status, message, status: state } }
  }

  protected answer(
    req: http.IncomingMessage,
    raw: unknown,
    taskId: string | undefined,
    res: http.ServerResponse
  ): string {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const model = /models\/([^:]+):/.exec(url.pathname)?.[1] ?? 'gemini-stand-in'
    if (url.pathname.endsWith(':countTokens')) {
      json(res, 200, { totalTokens: this.usage.inputTokens })
      return 'countTokens'
    }
    if (req.method !== 'POST' || !/:(stream)?[gG]enerateContent$/.test(url.pathname)) {
      json(res, 404, this.errorBody(404, `no ${req.method} ${url.pathname} here`))
      return 'not found'
    }
    const body = (raw ?? {}) as GenerateRequest
    const stream = url.pathname.endsWith(':streamGenerateContent')
    if (!body.tools?.length) {
      // The CLI's own side calls (routing, checks) ask for JSON: a simple task, the main model.
      const text = JSON.stringify({
        complexity_reasoning: 'a small, well-defined change',
        complexity_score: 10
      })
      return this.send(res, stream, model, [{ text }], 'routing')
    }
    const last = body.contents?.at(-1)
    const answered = last?.parts?.some((part) => part.functionResponse !== undefined) ?? false
    const workspace = textsIn(body)
      .map((t) => WORKSPACE.exec(t)?.[1])
      .find(Boolean)
      ?.trim()
    if (!taskId || answered || !workspace) {
      const text = taskId ? `Done: wrote ${this.fileFor(taskId).path} for task ${taskId}.` : 'OK'
      return this.send(res, stream, model, [{ text }], 'final answer')
    }
    const file = this.fileFor(taskId)
    const call = {
      functionCall: {
        name: 'write_file',
        args: { file_path: path.join(workspace, file.path), content: file.content }
      }
    }
    return this.send(res, stream, model, [call], 'write_file call')
  }

  /** One model turn, as a stream of one chunk or whole, billed `usage` tokens. */
  private send(
    res: http.ServerResponse,
    stream: boolean,
    model: string,
    parts: object[],
    what: string
  ): string {
    const chunk = {
      candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
      usageMetadata: {
        promptTokenCount: this.usage.inputTokens,
        candidatesTokenCount: this.usage.outputTokens,
        totalTokenCount: this.usage.inputTokens + this.usage.outputTokens
      },
      modelVersion: model
    }
    if (!stream) {
      json(res, 200, chunk)
      return what
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.end(`data: ${JSON.stringify(chunk)}\n\n`)
    return what
  }
}
