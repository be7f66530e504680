import { HttpApiBuilder, HttpApiSwagger, HttpApp, HttpServerRequest, HttpServerResponse, type HttpApi } from "@effect/platform"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Effect, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { isIdentifier } from "../schema/ids.ts"
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
  /** Largest accepted request body; larger ones get 413 before the handler runs. */
  readonly maxBodyBytes: number
  /** Per-route override of the body limit (for example 64 KiB on auth routes). */
  readonly bodyLimitFor?: (path: string) => number | undefined
  /** Refuse bodies that are not `application/json` with 415 (the gateway's rule). */
  readonly requireJsonContentType?: boolean
  /**
   * A check that runs before the body is read; a response it returns ends the request. The worker API checks its
   * bearer token here, because its documented order is auth, then size (worker-node.md §6).
   */
  readonly beforeBody?: (
    request: HttpServerRequest.HttpServerRequest,
    requestId: string
  ) => Effect.Effect<Option.Option<HttpServerResponse.HttpServerResponse>>
}

const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.method !== "GET" && request.method !== "HEAD" &&
  (request.headers["content-length"] !== undefined && request.headers["content-length"] !== "0" ||
    request.headers["transfer-encoding"] !== undefined)

/**
 * Reads the body once (HttpServerRequest caches it), under the size limit, and checks that JSON parses, so that
 * the handlers' own decoding never meets an oversized or malformed body (which HttpApi would answer with 500).
 */
const checkBody = (request: HttpServerRequest.HttpServerRequest, options: HttpOptions, requestId: string) =>
  Effect.gen(function*() {
    if (!hasBody(request)) return Option.none<HttpServerResponse.HttpServerResponse>()
    const path = request.url.split("?")[0] ?? "/"
    const limit = options.bodyLimitFor?.(path) ?? options.maxBodyBytes
    const tooLarge = problemResponse(
      problemFor(413, `request body exceeds the limit of ${limit} bytes`, { instance: requestId })
    )
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > limit) return Option.some(tooLarge)
    const contentType = (request.headers["content-type"] ?? "").toLowerCase()
    const isJson = contentType === "" || contentType.includes("application/json") || contentType.includes("+json")
    if (options.requireJsonContentType && !contentType.includes("json")) {
      return Option.some(problemResponse(problemFor(415, "request body must be application/json", { instance: requestId })))
    }
    const text = yield* request.text.pipe(
      HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
      Effect.either
    )
    if (text._tag === "Left") return Option.some(tooLarge)
    if (isJson && text.right !== "") {
      try {
        JSON.parse(text.right)
      } catch {
        return Option.some(problemResponse(problemFor(400, "Invalid request body: malformed JSON", { instance: requestId })))
      }
    }
    return Option.none()
  })

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

/** The middleware every CyNode server runs: request id, body checks, Problem Details, one access-log line. */
export const cynodeMiddleware = (options: HttpOptions) => <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const requestId = requestIdFor(request.headers[REQUEST_ID_HEADER])
    return handle(app, request, requestId, options).pipe(Effect.annotateLogs("request_id", requestId))
  })

const handle = <E, R>(
  app: HttpApp.Default<E, R>,
  request: HttpServerRequest.HttpServerRequest,
  requestId: string,
  options: HttpOptions
) =>
  Effect.gen(function*() {
    const started = Date.now()
    let status = 0
    const accessLog = Effect.suspend(() =>
      Effect.logInfo("http request").pipe(
        Effect.annotateLogs({
          method: request.method,
          path: request.url.split("?")[0],
          status,
          duration_ms: Date.now() - started
        })
      )
    )
    const gate = options.beforeBody ? yield* options.beforeBody(request, requestId) : Option.none()
    const early = Option.isSome(gate) ? gate : yield* checkBody(request, options, requestId)
    if (Option.isSome(early)) {
      const response = finishResponse(request, early.value, requestId)
      status = response.status
      yield* accessLog
      return response
    }
    // The platform writes the response before this middleware sees it, so rewriting happens in a pre-response hook.
    yield* HttpApp.appendPreResponseHandler((req, response) =>
      Effect.sync(() => {
        const finished = finishResponse(req, response, requestId)
        status = finished.status
        return finished
      })
    )
    return yield* app.pipe(
      Effect.tapErrorCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("request failed", cause)
      ),
      Effect.ensuring(accessLog)
    )
  })

/**
 * Serves an HttpApi (its handlers provided by `apiLayer`) on a Node HTTP server. Node's 300 s request timeout is
 * lifted because a worker call lasts as long as its job (DECISIONS.md "Timeouts").
 */
export const serveApi = <E, R>(
  apiLayer: Layer.Layer<HttpApi.Api, E, R>,
  address: ListenAddress,
  options: HttpOptions
) =>
  HttpApiBuilder.serve(cynodeMiddleware(options)).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(apiLayer),
    Layer.provideMerge(
      NodeHttpServer.layer(() => {
        const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 })
        server.maxHeadersCount = 200
        return server
      }, { port: address.port, host: address.host })
    )
  )
