// A stand-in for the OpenAI Responses API (POST /v1/responses, streamed as server-sent events)
// as Codex CLI calls it (`-c openai_base_url=...`). For a request whose prompt is an agent-fanout
// task it scripts one turn of work: an `apply_patch` call adding the task's file (directly when
// the request offers apply_patch as a tool, or through Codex's code-mode `exec` tool, which runs
// JavaScript that calls `tools.apply_patch`), then, once the tool output comes back, a short
// final answer. Every answer bills `usage` tokens. WebSocket upgrades are refused, so Codex falls
// back to HTTPS.
import type http from 'node:http'
import { json, ModelApiStandIn, sse, type StandInOptions } from './common.js'

const CALL_ID_PREFIX = 'call_fanout_'

interface ResponsesRequest {
  model?: string
  stream?: boolean
  input?: { type?: string; call_id?: string; output?: unknown; tools?: unknown }[]
  tools?: unknown[]
}

interface Tool {
  type?: string
  name?: string
  tools?: Tool[]
}

export class OpenAIStandIn extends ModelApiStandIn {
  static start(options: StandInOptions): Promise<OpenAIStandIn> {
    return new OpenAIStandIn(options).start()
  }

  /** What openai_base_url (or a provider's base_url) should be. */
  get baseUrl(): string {
    return `${this.origin}/v1`
  }

  protected credential(req: http.IncomingMessage): string | undefined {
    return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  }

  protected errorBody(status: number, message: string): object {
    const code =
      status === 401
        ? 'invalid_api_key'
        : status === 429
          ? 'rate_limit_exceeded'
          : status >= 500
            ? 'server_error'
            : 'invalid_request'
    return {
      error: { message, type: status === 429 ? 'requests' : 'invalid_request_error', code }
    }
  }

  protected answer(
    req: http.IncomingMessage,
    raw: unknown,
    taskId: string | undefined,
    res: http.ServerResponse
  ): string {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      json(res, 200, { object: 'list', data: [] })
      return 'models'
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/responses') {
      json(res, 404, this.errorBody(404, `no ${req.method} ${url.pathname} here`))
      return 'not found'
    }
    const body = (raw ?? {}) as ResponsesRequest
    const model = body.model ?? 'gpt-stand-in'
    if (!taskId) return this.send(res, model, [message('OK')], 'text')
    const output = (body.input ?? []).find(
      (item) =>
        (item.type === 'custom_tool_call_output' || item.type === 'function_call_output') &&
        item.call_id?.startsWith(CALL_ID_PREFIX)
    )
    const file = this.fileFor(taskId)
    if (output) {
      return this.send(
        res,
        model,
        [message(`Done: wrote ${file.path} for task ${taskId}.`)],
        'final answer'
      )
    }
    const patch = `*** Begin Patch\n*** Add File: ${file.path}\n${file.content
      .replace(/\n$/, '')
      .split('\n')
      .map((line) => `+${line}`)
      .join('\n')}\n*** End Patch\n`
    const callId = `${CALL_ID_PREFIX}${taskId}_${this.requests.length}`
    const tools = offeredTools(body)
    if (tools.has('apply_patch')) {
      const kind = tools.get('apply_patch')
      const item =
        kind === 'custom'
          ? { type: 'custom_tool_call', call_id: callId, name: 'apply_patch', input: patch }
          : {
              type: 'function_call',
              call_id: callId,
              name: 'apply_patch',
              arguments: JSON.stringify({ input: patch })
            }
      return this.send(
        res,
        model,
        [{ id: `item_${callId}`, status: 'completed', ...item }],
        'apply_patch call'
      )
    }
    if (tools.get('exec') === 'custom') {
      const code = `const result = await tools.apply_patch(${JSON.stringify(patch)});\ntext(result);\n`
      const item = { type: 'custom_tool_call', call_id: callId, name: 'exec', input: code }
      return this.send(
        res,
        model,
        [{ id: `item_${callId}`, status: 'completed', ...item }],
        'exec apply_patch call'
      )
    }
    json(res, 400, this.errorBody(400, 'stand-in: the request offers neither apply_patch nor exec'))
    return 'no apply_patch tool'
  }

  /** One response with the given output items, streamed as Responses API events. */
  private send(res: http.ServerResponse, model: string, output: object[], what: string): string {
    const id = `resp_fanout_${this.requests.length}`
    const usage = {
      input_tokens: this.usage.inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: this.usage.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: this.usage.inputTokens + this.usage.outputTokens
    }
    const response = {
      id,
      object: 'response',
      created_at: 0,
      model,
      status: 'in_progress',
      output: []
    }
    const events: { type: string }[] = [
      { type: 'response.created', response } as { type: string },
      ...output.flatMap((item, index) => [
        { type: 'response.output_item.added', output_index: index, item } as { type: string },
        { type: 'response.output_item.done', output_index: index, item } as { type: string }
      ]),
      {
        type: 'response.completed',
        response: { ...response, status: 'completed', output, usage }
      } as { type: string }
    ]
    sse(res, events)
    return what
  }
}

function message(text: string): object {
  return {
    type: 'message',
    id: `msg_fanout_${text.length}`,
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text, annotations: [] }]
  }
}

/** Tool name -> type (function, custom, ...) for every tool the request offers, nested ones too. */
function offeredTools(body: ResponsesRequest): Map<string, string> {
  const found = new Map<string, string>()
  const visit = (tools: Tool[] | undefined): void => {
    for (const tool of tools ?? []) {
      if (tool.name && tool.type && tool.type !== 'namespace') found.set(tool.name, tool.type)
      visit(tool.tools)
    }
  }
  visit(body.tools as Tool[] | undefined)
  for (const item of body.input ?? [])
    if (item.type === 'additional_tools') visit(item.tools as Tool[] | undefined)
  return found
}
