import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, Option, Redacted, Schema } from "effect"
import { ProblemDetails } from "../../schema/problem.ts"
import { ApiError, UnexpectedResponse, Unreachable } from "./CliError.ts"

/**
 * One HTTP exchange with a CyNode service: JSON in, a schema-checked answer out, and every failure typed
 * (Problem Details → ApiError, no connection → Unreachable, a body that does not match → UnexpectedResponse).
 */

export interface Call {
  readonly method: "GET" | "POST" | "DELETE"
  readonly url: string
  readonly token?: Redacted.Redacted<string>
  readonly body?: unknown
  readonly urlParams?: Record<string, string>
  readonly timeout?: Duration.DurationInput
}

export interface JsonCall<A, I> extends Call {
  readonly success: Schema.Schema<A, I>
}

export type HttpFailure = ApiError | Unreachable | UnexpectedResponse

const decodeProblem = Schema.decodeUnknownOption(ProblemDetails)

export const reasonOf = (cause: unknown): string => {
  const nested = (cause as { cause?: { cause?: { code?: unknown; message?: unknown }; message?: unknown } }).cause
  const code = nested?.cause?.code
  if (typeof code === "string") return code === "ECONNREFUSED" ? "connection refused (is it running?)" : code
  if (typeof nested?.message === "string") return nested.message
  return cause instanceof Error ? cause.message : String(cause)
}

/** Turns a non-2xx answer into ApiError, keeping the server's title and detail. */
export const failedAnswer = (url: string, response: HttpClientResponse.HttpClientResponse) => apiError(url, response)

const apiError = (url: string, response: HttpClientResponse.HttpClientResponse) =>
  Effect.gen(function*() {
    const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    const retryAfter = Option.fromNullable(response.headers["retry-after"]).pipe(
      Option.map(Number),
      Option.filter(Number.isFinite)
    )
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    const problem = decodeProblem(parsed)
    if (Option.isSome(problem)) {
      const { title, detail, errors } = problem.value
      return new ApiError({
        status: response.status,
        title,
        detail,
        ...(errors === undefined ? {} : { errors }),
        ...(Option.isSome(retryAfter) ? { retryAfterSeconds: retryAfter.value } : {})
      })
    }
    return new ApiError({
      status: response.status,
      title: `HTTP ${response.status}`,
      detail: text.trim().slice(0, 300) || `no details (${url})`
    })
  })

/** Sends the request; a 2xx answer is returned, anything else fails. Needs a Scope (the response body). */
const send = (spec: Call) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let request = spec.method === "GET"
      ? HttpClientRequest.get(spec.url)
      : spec.method === "DELETE"
      ? HttpClientRequest.del(spec.url)
      : HttpClientRequest.post(spec.url)
    request = HttpClientRequest.acceptJson(request)
    if (spec.token !== undefined) request = HttpClientRequest.bearerToken(request, Redacted.value(spec.token))
    if (spec.urlParams !== undefined) request = HttpClientRequest.setUrlParams(request, spec.urlParams)
    if (spec.body !== undefined) request = HttpClientRequest.bodyUnsafeJson(request, spec.body)
    const response = yield* client.execute(request).pipe(
      Effect.timeoutFail({
        duration: spec.timeout ?? "30 seconds",
        onTimeout: () => new Unreachable({ url: spec.url, reason: "no answer in time" })
      }),
      Effect.catchTags({
        RequestError: (error) => Effect.fail(new Unreachable({ url: spec.url, reason: reasonOf(error) })),
        ResponseError: (error) => Effect.fail(new UnexpectedResponse({ url: spec.url, status: error.response.status, reason: error.message }))
      })
    )
    if (response.status < 200 || response.status >= 300) return yield* Effect.flip(apiError(spec.url, response))
    return response
  })

/** A call answered with a JSON body that must match `success`. */
export const call = <A, I>(spec: JsonCall<A, I>): Effect.Effect<A, HttpFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const response = yield* send(spec)
    const unexpected = (reason: string) => new UnexpectedResponse({ url: spec.url, status: response.status, reason })
    const json = yield* response.json.pipe(Effect.mapError(() => unexpected("the body is not JSON")))
    return yield* Schema.decodeUnknown(spec.success)(json).pipe(Effect.mapError((error) => unexpected(error.message)))
  }).pipe(Effect.scoped)

/** A call answered with raw bytes (a download). */
export const callBytes = (spec: Call): Effect.Effect<Uint8Array, HttpFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const response = yield* send(spec)
    const body = yield* response.arrayBuffer.pipe(
      Effect.mapError(() => new UnexpectedResponse({ url: spec.url, status: response.status, reason: "the body could not be read" }))
    )
    return new Uint8Array(body)
  }).pipe(Effect.scoped)

/** A call answered without a body (204). */
export const callNoContent = (spec: Call): Effect.Effect<void, HttpFailure, HttpClient.HttpClient> =>
  Effect.asVoid(Effect.scoped(send(spec)))

/** A plain-text probe (`/healthz`, `/readyz`): the status and body, whatever the status. */
export const probe = (url: string): Effect.Effect<{ readonly status: number; readonly body: string }, Unreachable, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(HttpClientRequest.get(url)).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Unreachable({ url, reason: "no answer in time" }) }),
      Effect.catchTag("RequestError", (error) => Effect.fail(new Unreachable({ url, reason: reasonOf(error) }))),
      Effect.catchTag("ResponseError", (error) => Effect.fail(new Unreachable({ url, reason: error.message })))
    )
    const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
    return { status: response.status, body: body.trim() }
  }).pipe(Effect.scoped)
