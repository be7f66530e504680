import {
  FileSystem,
  HttpApiBuilder,
  HttpApiSwagger,
  HttpApp,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  type HttpApi
} from "@effect/platform"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Effect, Layer, Option, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { isIdentifier } from "../schema/ids.ts"
import { makeLimitedServer, serverLimits } from "./HttpLimits.ts"
import { makeRouteTable, type RoutePolicy, type RouteTable } from "./HttpRoutes.ts"
import { PROBLEM_CONTENT_TYPE, problemFor, problemTags, type FieldError, type ProblemDetails } from "../schema/problem.ts"

/** Shared HTTP server plumbing: Problem Details, request ids, body limits, access logs, listen addresses. */

export interface ListenAddress {
  readonly host: string
  readonly port: number
}

/** Parses `:12082`, `0.0.0.0:12090`, `127.0.0.1:0` or `[::1]:80` (Go-style listen addresses). */
export const parseListenAddress = (addr: string): ListenAddress | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? m[2] ?? ""
  return { host: host === "" ? "0.0.0.0" : host, port }
}

export const REQUEST_ID_HEADER = "x-request-id"

/** An inbound request id is echoed only when it meets the identifier rule; otherwise a fresh UUID. */
export const requestIdFor = (inbound: string | undefined): string =>
  inbound !== undefined && isIdentifier(inbound) ? inbound : randomUUID()

export const problemResponse = (problem: ProblemDetails, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson(problem, {
    status: problem.status,
    contentType: PROBLEM_CONTENT_TYPE,
    headers: {
      ...headers,
      ...(problem.status === 401 ? { "www-authenticate": "Bearer" } : {})
    }
  })

const decoder = new TextDecoder()

interface EncodedError {
  readonly _tag: string
  readonly detail?: string
  readonly message?: string
  readonly errors?: ReadonlyArray<FieldError>
  readonly issues?: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>
  readonly retry_after_seconds?: number
}

const readEncodedError = (response: HttpServerResponse.HttpServerResponse): EncodedError | undefined => {
  if (response.body._tag !== "Uint8Array" || !response.body.contentType.includes("json")) return undefined
  try {
    const parsed: unknown = JSON.parse(decoder.decode(response.body.body))
    if (typeof parsed === "object" && parsed !== null && "_tag" in parsed && typeof parsed._tag === "string") {
      return problemTags[parsed._tag] ? (parsed as EncodedError) : undefined
    }
  } catch {
    return undefined
  }
  return undefined
}

/** Turns the `_tag` JSON that HttpApi encodes for an error into Problem Details. */
const toProblem = (status: number, encoded: EncodedError, requestId: string): ProblemDetails => {
  const special = problemTags[encoded._tag] ?? {}
  const errors = encoded.errors ??
    encoded.issues?.map((issue) => ({
      path: issue.path.map(String).join(".") || "(body)",
      message: issue.message
    }))
  const detail = encoded._tag === "HttpApiDecodeError"
    ? `invalid request: ${errors?.map((e) => `${e.path}: ${e.message}`).join("; ") ?? encoded.message ?? "schema mismatch"}`
    : encoded.detail ?? encoded.message ?? "request failed"
  return problemFor(status, detail, {
    instance: requestId,
    ...(special.type ? { type: special.type } : {}),
    ...(special.title ? { title: special.title } : {}),
    ...(errors && errors.length > 0 ? { errors } : {})
  })
}

export interface HttpOptions {
  /**
   * Which routes are open and how large a body each accepts, decided on the matched route. Credentials are checked
   * by each route's HttpApi security middleware, which HttpApiBuilder runs on the route it matched and before it
   * reads the body; HttpRoutes.ts refuses to start a server with a non-public route that has none.
   */
  readonly routes: RoutePolicy
}

const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.headers["transfer-encoding"] !== undefined ||
  (request.headers["content-length"] !== undefined && request.headers["content-length"] !== "0")

/** JSON in UTF-8 is the only body any CyNode endpoint takes (a charset parameter other than utf-8 is refused). */
export const isJsonContentType = (header: string | undefined): boolean => {
  if (header === undefined) return false
  const [type, ...params] = header.toLowerCase().split(";").map((part) => part.trim())
  if (type !== "application/json" && !(type?.startsWith("application/") && type.endsWith("+json"))) return false
  return params.every((param) => !param.startsWith("charset=") || /^charset="?utf-8"?$/.test(param))
}

const isIdentityEncoding = (header: string | undefined) =>
  header === undefined || header.trim() === "" || header.trim().toLowerCase() === "identity"

/** Why a body is refused from its headers alone: it must be identity-encoded JSON. */
const unsupportedBody = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  if (!hasBody(request)) return undefined
  if (!isJsonContentType(request.headers["content-type"])) return "request body must be application/json (UTF-8)"
  if (!isIdentityEncoding(request.headers["content-encoding"])) return "request body must not be content-encoded"
  return undefined
}

type BodyFailure = "too_large" | "unreadable" | "malformed" | "unsupported" | "too_deep"

/** Deeper JSON than any contract needs; decoding and error rendering recurse, so a 5,000-deep array would overflow. */
export const MAX_JSON_DEPTH = 64

/** True when parsed JSON nests deeper than MAX_JSON_DEPTH (checked without recursion). */
export const tooDeep = (value: unknown): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== "object" || current === null) continue
    if (depth > MAX_JSON_DEPTH) return true
    for (const child of Object.values(current)) stack.push([child, depth + 1])
  }
  return false
}

const bodyFailureOf = (error: unknown): BodyFailure => {
  const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : error
  if (cause instanceof Error && cause.message === "maxBytes exceeded") return "too_large"
  if (cause instanceof Error && cause.message === "unsupported body") return "unsupported"
  if (cause instanceof Error && cause.message === "too deep") return "too_deep"
  return cause instanceof SyntaxError ? "malformed" : "unreadable"
}

/** The answer for a body that could not be read: over the route's limit (413), malformed JSON or aborted (400). */
const bodyProblem = (failure: BodyFailure, limit: number, requestId: string, request: HttpServerRequest.HttpServerRequest) =>
  failure === "unsupported"
    ? problemResponse(problemFor(415, unsupportedBody(request) ?? "unsupported request body", { instance: requestId }))
    : failure === "too_large"
    ? problemResponse(problemFor(413, `request body exceeds the limit of ${limit} bytes`, { instance: requestId }))
    : problemResponse(
      problemFor(
        400,
        failure === "malformed"
          ? "Invalid request body: malformed JSON"
          : failure === "too_deep"
          ? `Invalid request body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`
          : "cannot read the request body",
        { instance: requestId }
      )
    )

/**
 * The request as the handlers see it: its body readers refuse a declared length over the route's limit without
 * reading a byte (so Node can answer and drain), read at most `limit` bytes otherwise, and record why a read failed.
 * HttpApiBuilder turns a read failure into a bodiless 400; the pre-response hook then answers with the recorded
 * reason instead.
 */
const guardBody = (request: HttpServerRequest.HttpServerRequest, limit: number, failed: { reason?: BodyFailure }) => {
  const declared = Number(request.headers["content-length"] ?? "0")
  const refusal = unsupportedBody(request) !== undefined
    ? "unsupported body"
    : declared > limit
    ? "maxBytes exceeded"
    : undefined
  const refused = (message: string) =>
    new HttpServerError.RequestError({ request, reason: "Decode", cause: new Error(message) })
  const guard = <A, E>(read: Effect.Effect<A, E>) => {
    const source: Effect.Effect<A, E | HttpServerError.RequestError> = refusal !== undefined
      ? Effect.fail(refused(refusal))
      : read
    return source.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, Option.some(FileSystem.Size(limit))),
      Effect.tapError((error) =>
        Effect.sync(() => {
          failed.reason = bodyFailureOf(error)
        })
      )
    )
  }
  return new Proxy(request, {
    get(target, property) {
      if (property === "text") return guard(target.text)
      if (property === "json") {
        return guard(
          Effect.flatMap(target.json, (value) => tooDeep(value) ? Effect.fail(refused("too deep")) : Effect.succeed(value))
        )
      }
      // From the cached text: the stream can be read once, and a credential check may have read it as JSON already.
      if (property === "arrayBuffer") {
        return guard(Effect.map(target.text, (text) => new TextEncoder().encode(text).buffer))
      }
      if (property === "urlParamsBody") return guard(Effect.fail(refused("unsupported body")))
      // No endpoint takes multipart or a raw stream: refused without reading, so no parser waits for more input.
      if (property === "multipart") return guard(Effect.fail(refused("unsupported body")))
      if (property === "stream" || property === "multipartStream") {
        failed.reason = "unsupported"
        return Stream.fail(refused("unsupported body"))
      }
      return Reflect.get(target, property, target)
    }
  })
}

/** Rewrites an error response: HttpApi's `_tag` JSON, and the bodiless 404/500 of unmatched routes and defects. */
const finishResponse = (
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse,
  requestId: string
) => {
  let out = response
  if (response.status >= 400) {
    const encoded = readEncodedError(response)
    if (encoded !== undefined) {
      out = problemResponse(
        toProblem(response.status, encoded, requestId),
        encoded.retry_after_seconds !== undefined ? { "retry-after": String(encoded.retry_after_seconds) } : {}
      )
    } else if (response.body._tag === "Empty") {
      const detail = response.status === 404
        ? `no route for ${request.method} ${request.url.split("?")[0]}`
        : response.status >= 500
        ? "internal error; see the server log for this request id" // 500s reveal nothing internal
        : "request failed"
      out = problemResponse(problemFor(response.status, detail, { instance: requestId }))
    }
  }
  return HttpServerResponse.setHeader(out, REQUEST_ID_HEADER, requestId)
}

/** The middleware every CyNode server runs: request id, route policy, Problem Details, one access-log line. */
export const cynodeMiddleware = (table: RouteTable) => <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const requestId = requestIdFor(request.headers[REQUEST_ID_HEADER])
    return handle(app, request, requestId, table).pipe(Effect.annotateLogs("request_id", requestId))
  })

const handle = <E, R>(
  app: HttpApp.Default<E, R>,
  request: HttpServerRequest.HttpServerRequest,
  requestId: string,
  table: RouteTable
) =>
  Effect.gen(function*() {
    const started = Date.now()
    let status = 0
    // Decided on the route the router will match, however the path is spelt.
    const route = table.find(request.method, request.url)
    const accessLog = Effect.suspend(() =>
      (route?.quiet === true && status < 400 ? Effect.logDebug : Effect.logInfo)("http request").pipe(
        Effect.annotateLogs({
          method: request.method,
          path: request.url.split("?")[0],
          status,
          duration_ms: Date.now() - started
        })
      )
    )
    const answer = (early: HttpServerResponse.HttpServerResponse) =>
      Effect.gen(function*() {
        const response = finishResponse(request, early, requestId)
        status = response.status
        yield* accessLog
        return response
      })
    if (route === undefined) {
      // No API route: only documentation (GET) remains, which takes no body; a body is never read here.
      if (hasBody(request)) return yield* answer(HttpServerResponse.empty({ status: 404 }))
    } else if (route.public || request.headers["authorization"] !== undefined) {
      // Needs only the headers, so it is answered at once (a multipart parser would wait for a body that never ends).
      // A request without any credential is left to the route's credential check, which answers 401 first.
      const unsupported = unsupportedBody(request)
      if (unsupported !== undefined) {
        return yield* answer(problemResponse(problemFor(415, unsupported, { instance: requestId })))
      }
    }
    const limit = route?.maxBodyBytes ?? 0
    const failed: { reason?: BodyFailure } = {}
    // The platform writes the response before this middleware sees it, so rewriting happens in a pre-response hook.
    yield* HttpApp.appendPreResponseHandler((req, response) =>
      Effect.sync(() => {
        const finished = finishResponse(
          req,
          failed.reason !== undefined && response.status === 400 && response.body._tag === "Empty"
            ? bodyProblem(failed.reason, limit, requestId, request)
            : response,
          requestId
        )
        status = finished.status
        return finished
      })
    )
    return yield* app.pipe(
      // The body is read only by the handler, after the route's credential check, under the route's limit.
      Effect.provideService(HttpServerRequest.HttpServerRequest, guardBody(request, limit, failed)),
      // Only a 5xx is an error of ours; a 4xx (no route, a refused body) is the access line's business.
      Effect.tapErrorCause((cause) =>
        Cause.isInterruptedOnly(cause) || (status > 0 && status < 500) ? Effect.void : Effect.logError("request failed", cause)
      ),
      Effect.ensuring(accessLog)
    )
  })

/**
 * Serves an HttpApi (its handlers provided by `apiLayer`) on a Node HTTP server with the limits of HttpLimits.ts;
 * `api` is the same HttpApi, from which the route table is built.
 */
export const serveApi = <E, R>(
  api: HttpApi.HttpApi.Any,
  apiLayer: Layer.Layer<HttpApi.Api, E, R>,
  address: ListenAddress,
  options: HttpOptions
) =>
  Layer.unwrapEffect(
    Effect.map(serverLimits, (limits) =>
      HttpApiBuilder.serve(cynodeMiddleware(makeRouteTable(api, options.routes))).pipe(
        Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
        Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
        Layer.provide(apiLayer),
        Layer.provideMerge(NodeHttpServer.layer(() => makeLimitedServer(limits), { port: address.port, host: address.host }))
      ))
  )
