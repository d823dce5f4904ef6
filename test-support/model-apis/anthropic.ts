// A stand-in for the Anthropic Messages API (POST /v1/messages, streamed as server-sent events)
// as Claude Code calls it through ANTHROPIC_BASE_URL. For a request whose prompt is an
// agent-fanout task it scripts one turn of work: first a `Write` tool call creating the task's
// file in the working directory Claude Code announces in its system prompt, then, once the tool
// result comes back, a short final answer. Every answer bills `usage` tokens.
import type http from 'node:http'
import path from 'node:path'
import { json, ModelApiStandIn, sse, textsIn, type StandInOptions } from './common.js'

const TOOL_ID_PREFIX = 'toolu_fanout_'
/** Claude Code states its cwd in the system prompt ("Primary working directory: /path"). */
const WORKING_DIR = /Primary working directory: ([^\n]+)/

interface MessagesRequest {
  model?: string
  stream?: boolean
  messages?: { role: string; content: unknown }[]
  tools?: { name: string }[]
}

export interface AnthropicStandInOptions extends StandInOptions {
  /** Bash commands the model asks to run after writing the file (to probe permission modes). */
  bash?: (taskId: string) => string[]
}

export class AnthropicStandIn extends ModelApiStandIn {
  private readonly bash?: (taskId: string) => string[]

  constructor(options: AnthropicStandInOptions) {
    super(options)
    this.bash = options.bash
  }

  static start(options: AnthropicStandInOptions): Promise<AnthropicStandIn> {
    return new AnthropicStandIn(options).start()
  }

  /** What ANTHROPIC_BASE_URL should be. */
  get baseUrl(): string {
    return this.origin
  }

  protected credential(req: http.IncomingMessage): string | undefined {
    const key = req.headers['x-api-key']
    if (typeof key === 'string') return key
    return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  }

  protected errorBody(status: number, message: string): object {
    const type =
      status === 401
        ? 'authentication_error'
        : status === 429
          ? 'rate_limit_error'
          : status === 529
            ? 'overloaded_error'
            : 'api_error'
    return { type: 'error', error: { type, message } }
  }

  protected answer(
    req: http.IncomingMessage,
    raw: unknown,
    taskId: string | undefined,
    res: http.ServerResponse
  ): string {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
      json(res, 200, { input_tokens: this.usage.inputTokens })
      return 'count_tokens'
    }
    if (req.method !== 'POST' || url.pathname !== '/v1/messages') {
      json(res, 404, this.errorBody(404, `no ${req.method} ${url.pathname} here`))
      return 'not found'
    }
    const body = (raw ?? {}) as MessagesRequest
    const model = body.model ?? 'claude-stand-in'
    if (!taskId)
      return this.send(res, body, model, [{ type: 'text', text: 'OK' }], 'end_turn', 'text')

    const results = toolResults(body)
    const failed = results.find((r) => r.isError)
    const cwd = textsIn(body)
      .map((t) => WORKING_DIR.exec(t)?.[1])
      .find(Boolean)
      ?.trim()
    if (!cwd) {
      json(res, 400, this.errorBody(400, 'stand-in: no "Primary working directory" in the prompt'))
      return 'no working directory'
    }
    const steps = this.steps(taskId, cwd)
    if (failed || results.length >= steps.length) {
      const text = failed
        ? `A tool call failed: ${failed.text}`
        : `Done: wrote ${this.fileFor(taskId).path} for task ${taskId}.`
      return this.send(res, body, model, [{ type: 'text', text }], 'end_turn', 'final answer')
    }
    const step = steps[results.length]
    if (!body.tools?.some((t) => t.name === step.name)) {
      json(res, 400, this.errorBody(400, `stand-in: the request offers no ${step.name} tool`))
      return `no ${step.name} tool`
    }
    const call = {
      type: 'tool_use' as const,
      id: `${TOOL_ID_PREFIX}${taskId}_${this.requests.length}`,
      ...step
    }
    return this.send(res, body, model, [call], 'tool_use', `${step.name} call`)
  }

  /** The tool calls scripted for a task: Write its file, then any `bash` commands. */
  private steps(taskId: string, cwd: string): { name: string; input: object }[] {
    const file = this.fileFor(taskId)
    return [
      { name: 'Write', input: { file_path: path.join(cwd, file.path), content: file.content } },
      ...(this.bash?.(taskId) ?? []).map((command) => ({
        name: 'Bash',
        input: { command, description: 'scripted by the stand-in' }
      }))
    ]
  }

  /** One assistant message, streamed (SSE) or whole, billed `usage` tokens. */
  private send(
    res: http.ServerResponse,
    body: MessagesRequest,
    model: string,
    content: (
      { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: object }
    )[],
    stopReason: 'end_turn' | 'tool_use',
    what: string
  ): string {
    const id = `msg_fanout_${this.requests.length}`
    const usage = {
      input_tokens: this.usage.inputTokens,
      output_tokens: this.usage.outputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0
    }
    if (!body.stream) {
      json(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage
      })
      return what
    }
    const events: { type: string }[] = [
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 }
        }
      } as { type: string }
    ]
    content.forEach((block, index) => {
      if (block.type === 'text') {
        events.push(
          { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } as {
            type: string
          },
          {
            type: 'content_block_delta',
            index,
            delta: { type: 'text_delta', text: block.text }
          } as { type: string }
        )
      } else {
        events.push(
          {
            type: 'content_block_start',
            index,
            content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} }
          } as { type: string },
          {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) }
          } as { type: string }
        )
      }
      events.push({ type: 'content_block_stop', index } as { type: string })
    })
    events.push(
      {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: this.usage.outputTokens }
      } as { type: string },
      { type: 'message_stop' }
    )
    sse(res, events)
    return what
  }
}

/** The results of the stand-in's own tool calls that Claude Code sent back, in order. */
function toolResults(body: MessagesRequest): { isError: boolean; text: string }[] {
  const found: { isError: boolean; text: string }[] = []
  for (const message of body.messages ?? []) {
    if (message.role !== 'user' || !Array.isArray(message.content)) continue
    for (const block of message.content as {
      type?: string
      tool_use_id?: string
      is_error?: boolean
      content?: unknown
    }[]) {
      if (block.type === 'tool_result' && block.tool_use_id?.startsWith(TOOL_ID_PREFIX))
        found.push({ isError: block.is_error === true, text: textsIn(block.content).join(' ') })
    }
  }
  return found
}
