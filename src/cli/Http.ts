import { HttpApiClient, HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Duration, Effect, ParseResult, Predicate, Redacted } from "effect"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { failOnProblem, type HttpProblem } from "../../layers/HttpClient.ts"
import { problemKinds } from "../../schema/problem.ts"
import { ApiError, UnexpectedResponse, Unreachable } from "./CliError.ts"

/**
 * The CLI's HTTP: the gateway's own contract (GatewayApi) as a typed client over the platform HttpClient, so paths,
 * parameters, request bodies and success bodies are the server's schemas. Every failure is typed once, here:
 * Problem Details → ApiError, no connection → Unreachable, an answer that does not match → UnexpectedResponse.
 */

export type HttpFailure = ApiError | Unreachable | UnexpectedResponse

const makeGatewayClient = (httpClient: HttpClient.HttpClient.With<HttpClientError.HttpClientError | HttpProblem>, baseUrl: string) =>
  HttpApiClient.makeWith(GatewayApi, { httpClient, baseUrl })

export type GatewayClient = Effect.Effect.Success<ReturnType<typeof makeGatewayClient>>

type Token = Redacted.Redacted<string>

const reasonOf = (cause: unknown): string => {
  const nested = (cause as { cause?: { cause?: { code?: unknown; message?: unknown }; message?: unknown } }).cause
  const code = nested?.cause?.code ?? (nested as { code?: unknown } | undefined)?.code
  if (typeof code === "string") return code === "ECONNREFUSED" ? "connection refused (is it running?)" : code
  if (typeof nested?.message === "string") return nested.message
  return cause instanceof Error ? cause.message : String(cause)
}

/** A Problem Details answer as the CLI reports it (the gateway's title and detail, its field errors, Retry-After). */
const apiErrorOf = (problem: HttpProblem, url: string): ApiError => {
  const retryAfter = problem.retryAfter === undefined ? Number.NaN : Number(problem.retryAfter)
  const isProblem = problem.type !== `http_${problem.status}`
  return new ApiError({
    status: problem.status,
    // The gateway's problem titles are those of their status (schema/problem.ts problemFor).
    title: isProblem ? (problemKinds[problem.status] ?? problemKinds[500]!).title : `HTTP ${problem.status}`,
    detail: problem.detail.trim() || `no details (${url})`,
    ...(problem.errors.length === 0 ? {} : { errors: problem.errors }),
    ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {})
  })
}

/**
 * A request the contract refuses before it is sent: reported like the gateway's own 400 would be, so a bad
 * `--limit` reads the same whether the client or the server caught it.
 */
const invalidRequest = (error: ParseResult.ParseError) => {
  const all = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message
  }))
  // An optional field's `undefined` alternative adds nothing to the reason its value was refused.
  const errors = all.filter((e) => !(e.message.startsWith("Expected undefined") && all.some((o) => o !== e && o.path === e.path)))
  return new ApiError({
    status: 400,
    title: problemKinds[400]!.title,
    detail: `invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
    errors
  })
}

const isHttpProblem = (e: unknown): e is HttpProblem => Predicate.isTagged(e, "HttpProblem")

/** Maps the platform's failures of one exchange to the CLI's; `answered` is the response, once there is one. */
const typed = (baseUrl: string, answered: { response?: HttpClientResponse.HttpClientResponse }) =>
(error: unknown): HttpFailure => {
  if (isHttpProblem(error)) return apiErrorOf(error, answered.response?.request.url ?? baseUrl)
  if (ParseResult.isParseError(error)) {
    const response = answered.response
    return response === undefined
      ? invalidRequest(error)
      : new UnexpectedResponse({ url: response.request.url, status: response.status, reason: error.message })
  }
  if (HttpClientError.isHttpClientError(error)) {
    return error._tag === "RequestError"
      ? new Unreachable({ url: error.request.url || baseUrl, reason: reasonOf(error) })
      : new UnexpectedResponse({ url: error.request.url, status: error.response.status, reason: error.message })
  }
  // A contract error the gateway never answers with (it answers Problem Details, failed above).
  const status = answered.response?.status ?? 0
  return new UnexpectedResponse({ url: answered.response?.request.url ?? baseUrl, status, reason: String(error) })
}

export interface CallOptions {
  /** The bearer token: only ever sent to the gateway it came from (Session.ts). */
  readonly token?: Token
  readonly timeout?: Duration.DurationInput
}

/** The platform client for one gateway call: JSON accepted, the bearer token attached, problems failed early. */
const clientFor = (token: Token | undefined, answered: { response?: HttpClientResponse.HttpClientResponse }) =>
  Effect.map(HttpClient.HttpClient, (client) =>
    client.pipe(
      HttpClient.mapRequest((request) => {
        const json = request.headers.accept === undefined ? HttpClientRequest.acceptJson(request) : request
        return token === undefined ? json : HttpClientRequest.bearerToken(json, token)
      }),
      HttpClient.tap((response) =>
        Effect.sync(() => {
          answered.response = response
        })
      ),
      failOnProblem
    ))

/** One call through the gateway's typed client, with its failures typed and a time limit (30 s by default). */
export const gatewayCall = <A>(
  baseUrl: string,
  options: CallOptions,
  use: (client: GatewayClient) => Effect.Effect<A, unknown>
): Effect.Effect<A, HttpFailure, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const answered: { response?: HttpClientResponse.HttpClientResponse } = {}
    const httpClient = yield* clientFor(options.token, answered)
    const client = yield* makeGatewayClient(httpClient, baseUrl)
    return yield* use(client).pipe(
      Effect.mapError(typed(baseUrl, answered)),
      Effect.timeoutFail({
        duration: options.timeout ?? "30 seconds",
        onTimeout: () => new Unreachable({ url: answered.response?.request.url ?? baseUrl, reason: "no answer in time" })
      })
    )
  })

/**
 * A GET the contract cannot express as a typed call (a wildcard path, an event stream): the platform client with
 * the same headers and the same failure typing. Needs a Scope (the response body).
 */
export const rawGet = (url: string, options: CallOptions & { readonly headers?: Record<string, string>; readonly urlParams?: Record<string, string> }) =>
  Effect.gen(function*() {
    const answered: { response?: HttpClientResponse.HttpClientResponse } = {}
    const client = yield* clientFor(options.token, answered)
    const request = HttpClientRequest.get(url).pipe(
      HttpClientRequest.setUrlParams(options.urlParams ?? {}),
      HttpClientRequest.setHeaders(options.headers ?? {})
    )
    return yield* client.execute(request).pipe(
      Effect.mapError(typed(url, answered)),
      Effect.timeoutFail({
        duration: options.timeout ?? "30 seconds",
        onTimeout: () => new Unreachable({ url, reason: "no answer in time" })
      })
    )
  })

/** What a probe of `/healthz` or `/readyz` found: the status and the plain-text body, whatever the status. */
export interface ProbeAnswer {
  readonly status: number
  readonly body: string
}

/** The `health` group of a service's contract (the gateway's and the control plane's are alike). */
export interface HealthClient {
  readonly healthz: () => Effect.Effect<string, unknown>
  readonly readyz: () => Effect.Effect<string, unknown>
}

/**
 * One probe: 200 with its text, a declared plain-text error (503 from `/readyz`) with its text, any other status
 * with its body; only no answer at all fails.
 */
export const probe = (url: string, call: Effect.Effect<string, unknown>): Effect.Effect<ProbeAnswer, Unreachable> =>
  call.pipe(
    Effect.map((body): ProbeAnswer => ({ status: 200, body: body.trim() })),
    Effect.catchAll((error): Effect.Effect<ProbeAnswer, Unreachable> => {
      if (typeof error === "string") return Effect.succeed({ status: 503, body: error.trim() })
      if (HttpClientError.isHttpClientError(error) && error._tag === "ResponseError") {
        const response = error.response
        return Effect.map(Effect.orElseSucceed(response.text, () => ""), (body) => ({ status: response.status, body: body.trim() }))
      }
      return Effect.fail(new Unreachable({ url, reason: HttpClientError.isHttpClientError(error) ? reasonOf(error) : String(error) }))
    }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Unreachable({ url, reason: "no answer in time" }) })
  )
