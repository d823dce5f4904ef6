// GitHub's published description of its REST API (npm @octokit/openapi, the api.github.com
// document) as the referee between the action and the test stand-in: every request the action
// sends and every answer the stand-in gives is checked against the operation GitHub documents
// for that method and path, so neither side can drift from the real API unnoticed.
//
// The document is large (13 MB, ~1,000 operations), so it is parsed once per test file and only
// the schemas of operations the tests actually reach are compiled (with the components they
// refer to, each compiled once); compiled validators are cached for the rest of the file.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type SchemaObject = { [key: string]: Json }

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header' | 'cookie'
  required?: boolean
  schema?: SchemaObject
}

interface Operation {
  operationId: string
  parameters?: (Parameter | { $ref: string })[]
  requestBody?: { required?: boolean; content?: Record<string, { schema?: SchemaObject }> }
  responses: Record<string, ResponseObject | { $ref: string }>
}

interface ResponseObject {
  content?: Record<string, { schema?: SchemaObject }>
}

interface Description {
  info: { version: string }
  paths: Record<string, Record<string, Operation>>
  components: {
    schemas: Record<string, SchemaObject>
    parameters: Record<string, Parameter>
    responses: Record<string, ResponseObject>
    requestBodies?: Record<string, Operation['requestBody']>
  }
}

interface Route {
  method: string
  template: string
  pattern: RegExp
  /** Literal path segments: `/issues/comments` beats `/issues/{issue_number}`, as on GitHub. */
  literals: number
  names: string[]
  operation: Operation
}

/** The operation GitHub documents for one request: its id and template, e.g. issues/get. */
export interface MatchedOperation {
  operationId: string
  template: string
  params: Record<string, string>
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']
const COMPONENT = '#/components/schemas/'
/** Components become schemas of their own under this URI, so each is compiled once. */
const SCHEMA_BASE = 'https://api.github.com/openapi/components/schemas/'
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv

/** Where the installed @octokit/openapi keeps the api.github.com document. */
function descriptionPath(): string {
  const require = createRequire(import.meta.url)
  return require.resolve('@octokit/openapi/generated/api.github.com.json')
}

function ref(value: unknown): string | undefined {
  const r = (value as { $ref?: unknown } | null)?.$ref
  return typeof r === 'string' ? r : undefined
}

function lastSegment(pointer: string): string {
  return decodeURIComponent(pointer.slice(pointer.lastIndexOf('/') + 1))
}

/**
 * OpenAPI 3.0 → JSON Schema for Ajv: `nullable: true` becomes a `null` type (and a null enum
 * member), component references point at the components' own URIs. Examples and descriptions
 * are dropped; they are not checked and only slow the compiler down.
 */
export function toJsonSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(toJsonSchema)
  if (schema === null || typeof schema !== 'object') return schema
  const out: SchemaObject = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'example' || key === 'examples' || key === 'description') continue
    if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT)) {
      out.$ref = SCHEMA_BASE + value.slice(COMPONENT.length)
    } else if (key === 'properties' && value !== null && typeof value === 'object') {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, toJsonSchema(sub)])
      )
    } else if (key === 'enum' || key === 'required' || key === 'default' || key === 'const') {
      out[key] = value
    } else {
      out[key] = toJsonSchema(value)
    }
  }
  if (out.nullable !== true) {
    delete out.nullable
    return out
  }
  delete out.nullable
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null']
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null]
    return out
  }
  return { anyOf: [out, { type: 'null' }] }
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  const lines = (errors ?? []).slice(0, 8).map((e) => {
    const where = e.instancePath || '(root)'
    const extra =
      e.keyword === 'additionalProperties'
        ? ` '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`
        : e.keyword === 'enum'
          ? ` ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`
          : ''
    return `${where} ${e.message ?? e.keyword}${extra}`
  })
  const more = (errors?.length ?? 0) > 8 ? `; and ${errors!.length - 8} more` : ''
  return lines.join('; ') + more
}

/** GitHub's REST description, with compiled validators for the operations used so far. */
export class GitHubOpenApi {
  private static loaded: GitHubOpenApi | undefined

  /** The description of the installed @octokit/openapi, parsed once per module instance. */
  static load(): GitHubOpenApi {
    GitHubOpenApi.loaded ??= new GitHubOpenApi(
      JSON.parse(readFileSync(descriptionPath(), 'utf8')) as Description
    )
    return GitHubOpenApi.loaded
  }

  private readonly routes: Route[] = []
  private readonly ajv: Ajv
  /** Parameters are strings on the wire: a second compiler coerces them to the schema's type. */
  private readonly paramAjv: Ajv
  private readonly added = new Set<string>()
  private readonly validators = new Map<string, ValidateFunction>()

  private constructor(private readonly description: Description) {
    for (const [template, item] of Object.entries(description.paths)) {
      const names: string[] = []
      let literals = 0
      const source = template
        .split('/')
        .map((segment) => {
          const param = /^\{([^}]+)\}$/.exec(segment)
          if (param) {
            names.push(param[1])
            return '([^/]+)'
          }
          if (segment) literals++
          return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        })
        .join('/')
      const pattern = new RegExp(`^${source}$`)
      for (const [method, operation] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method)) continue
        this.routes.push({
          method: method.toUpperCase(),
          template,
          pattern,
          literals,
          names,
          operation
        })
      }
    }
    const options = { strict: false, allErrors: true, validateSchema: false } as const
    this.ajv = addFormats(new Ajv(options))
    this.paramAjv = addFormats(new Ajv({ ...options, coerceTypes: true }))
    for (const ajv of [this.ajv, this.paramAjv]) {
      // GitHub's own formats, not JSON Schema's: `owner/name` and a Unix time.
      ajv.addFormat('repo.nwo', /^[^/\s]+\/[^/\s]+$/)
      ajv.addFormat('timestamp', true)
    }
  }

  /** The description's own version (GitHub's date-stamped API version of the package). */
  get version(): string {
    return this.description.info.version
  }

  /** The documented operation for a method and a path such as /repos/o/r/issues/12. */
  match(method: string, path: string): (MatchedOperation & { route: Route }) | undefined {
    let best: Route | undefined
    let params: string[] = []
    for (const route of this.routes) {
      if (route.method !== method.toUpperCase()) continue
      const m = route.pattern.exec(path)
      if (!m || (best && best.literals >= route.literals)) continue
      best = route
      params = m.slice(1)
    }
    if (!best) return undefined
    return {
      operationId: best.operation.operationId,
      template: best.template,
      params: Object.fromEntries(best.names.map((n, i) => [n, decodeURIComponent(params[i])])),
      route: best
    }
  }

  /**
   * What is wrong with a request (method, path, query, JSON body) by GitHub's description;
   * an empty list when it is a documented request.
   */
  checkRequest(
    method: string,
    path: string,
    query: Record<string, string>,
    body: unknown
  ): string[] {
    const found = this.match(method, path)
    if (!found) return [`${method} ${path}: GitHub documents no such operation`]
    const { operation } = found.route
    const where = `${method} ${found.template} (${found.operationId})`
    const problems: string[] = []
    const parameters = (operation.parameters ?? []).map((p) => this.parameter(p))
    for (const kind of ['path', 'query'] as const) {
      const declared = parameters.filter((p) => p.in === kind)
      const values = kind === 'path' ? found.params : query
      const validate = this.compiled(`${found.operationId} ${kind}`, this.paramAjv, () => ({
        type: 'object',
        properties: Object.fromEntries(declared.map((p) => [p.name, toJsonSchema(p.schema ?? {})])),
        required: declared.filter((p) => p.required).map((p) => p.name),
        additionalProperties: false
      }))
      if (!validate({ ...values })) {
        problems.push(`${where}: ${kind} parameters: ${formatErrors(validate.errors)}`)
      }
    }
    const requestBody = this.requestBody(operation)
    const schema = requestBody?.content?.['application/json']?.schema
    if (body === undefined) {
      if (requestBody?.required) problems.push(`${where}: the request body is required`)
    } else if (!schema) {
      problems.push(`${where}: GitHub documents no request body`)
    } else {
      const validate = this.compiled(`${found.operationId} request`, this.ajv, () => schema)
      if (!validate(body)) problems.push(`${where}: request body ${formatErrors(validate.errors)}`)
    }
    return problems
  }

  /**
   * What is wrong with an answer: a success status the operation does not document, or a body
   * that does not match the documented schema for its status. Error statuses GitHub may send
   * on any operation (401, 429, 5xx, ...) are checked only where the operation documents them.
   */
  checkResponse(method: string, path: string, status: number, body: unknown): string[] {
    const found = this.match(method, path)
    if (!found) return []
    const where = `${method} ${found.template} (${found.operationId}) answered ${status}`
    const declared = found.route.operation.responses[String(status)]
    if (!declared) {
      return status >= 200 && status < 300 ? [`${where}: not a documented status`] : []
    }
    const response = this.response(declared)
    const schema = response.content?.['application/json']?.schema
    if (!schema) {
      return body === undefined || body === '' ? [] : [`${where}: GitHub documents no body`]
    }
    const validate = this.compiled(`${found.operationId} ${status}`, this.ajv, () => schema)
    return validate(body) ? [] : [`${where}: ${formatErrors(validate.errors)}`]
  }

  private parameter(p: Parameter | { $ref: string }): Parameter {
    const r = ref(p)
    return r ? this.description.components.parameters[lastSegment(r)] : (p as Parameter)
  }

  private response(r: ResponseObject | { $ref: string }): ResponseObject {
    const pointer = ref(r)
    return pointer
      ? this.description.components.responses[lastSegment(pointer)]
      : (r as ResponseObject)
  }

  private requestBody(operation: Operation): Operation['requestBody'] {
    const pointer = ref(operation.requestBody)
    return pointer
      ? this.description.components.requestBodies?.[lastSegment(pointer)]
      : operation.requestBody
  }

  /** A validator compiled on first use, after the components it refers to are registered. */
  private compiled(key: string, ajv: Ajv, schema: () => Json): ValidateFunction {
    const cacheKey = `${ajv === this.ajv ? '' : 'param '}${key}`
    let validate = this.validators.get(cacheKey)
    if (!validate) {
      const raw = schema()
      this.addComponents(raw, ajv)
      validate = ajv.compile(toJsonSchema(raw) as SchemaObject)
      this.validators.set(cacheKey, validate)
    }
    return validate
  }

  /** Registers every component `schema` refers to, directly or through other components. */
  private addComponents(schema: Json, ajv: Ajv): void {
    const stack: Json[] = [schema]
    while (stack.length > 0) {
      const node = stack.pop()
      if (node === null || typeof node !== 'object') continue
      if (Array.isArray(node)) {
        stack.push(...node)
        continue
      }
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string' && value.startsWith(COMPONENT)) {
          const name = value.slice(COMPONENT.length)
          const id = `${ajv === this.ajv ? 'body' : 'param'} ${name}`
          if (this.added.has(id)) continue
          this.added.add(id)
          const component = this.description.components.schemas[name]
          ajv.addSchema({ ...(toJsonSchema(component) as SchemaObject), $id: SCHEMA_BASE + name })
          stack.push(component)
        } else if (key !== 'example' && key !== 'examples') {
          stack.push(value)
        }
      }
    }
  }
}
