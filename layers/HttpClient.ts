import { HttpClient, type HttpClientResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import * as Undici from "@effect/platform-node/Undici"
import { Data, Effect, Layer, Option, Schema } from "effect"
import { ProblemDetails } from "../schema/problem.ts"

/**
 * The one outgoing HTTP client of every CyNode process: `@effect/platform`'s `HttpClient` over undici, with one
 * keep-alive connection pool shared by every peer (many nodes, one control plane, Ollama). Build API clients from
 * it with `HttpApiClient.makeWith(SomeApi, { httpClient: failOnProblem(client), baseUrl })`.
 *
 * Timeouts are the caller's, with `Effect.timeout`: undici's own header and body timeouts are switched off here,
 * since a job's `jobs:run` answers only when the job ends, which may be hours (DECISIONS.md "Timeouts").
 */

/** Idle pooled connections close after this; shorter than Node's server keep-alive (5 s) so we never reuse a closing one. */
const KEEP_ALIVE_MS = 4_000
/** A peer that does not accept the TCP connection within this is unreachable (a pre-send failure). */
const CONNECT_TIMEOUT_MS = 10_000

const makeDispatcher = Effect.acquireRelease(
  Effect.sync(() =>
    new Undici.Agent({ keepAliveTimeout: KEEP_ALIVE_MS, connectTimeout: CONNECT_TIMEOUT_MS }).compose(
      // The platform client sets a 1 h header timeout per request; a 3 h job must not be cut by it.
      (dispatch) => (options, handler) => dispatch({ ...options, headersTimeout: 0, bodyTimeout: 0 }, handler)
    )
  ),
  (dispatcher) => Effect.promise(() => dispatcher.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
)

/** `HttpClient.HttpClient` over one shared undici pool, closed with the layer. */
export const layer: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
  Layer.provide(Layer.scoped(NodeHttpClient.Dispatcher, makeDispatcher))
)

/** A 4xx/5xx answer, with the peer's Problem Details (RFC 9457) when its body is one. */
export class HttpProblem extends Data.TaggedError("HttpProblem")<{
  readonly status: number
  /** The problem's `type`, or `http_<status>` when the body is not Problem Details. */
  readonly type: string
  /** The problem's `detail` (else its `title`, else the body's first 200 characters). */
  readonly detail: string
  readonly errors: ReadonlyArray<{ readonly path: string; readonly message: string }>
  /** The `Retry-After` header as sent, for 429 and 503. */
  readonly retryAfter: string | undefined
}> {}

const decodeProblem = Schema.decodeUnknownOption(Schema.parseJson(ProblemDetails))
/** What to read from a body that is JSON but not full Problem Details (a peer's own error shape). */
const LooseProblem = Schema.parseJson(Schema.Struct({ type: Schema.optional(Schema.String), title: Schema.optional(Schema.String), detail: Schema.optional(Schema.String) }))
const decodeLoose = Schema.decodeUnknownOption(LooseProblem)

/** The problem an error response carries; never fails (an unreadable body still yields its status). */
export const problemOf = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<HttpProblem> =>
  response.text.pipe(
    Effect.orElseSucceed(() => ""),
    Effect.map((text) => {
      const retryAfter = response.headers["retry-after"]
      const full = decodeProblem(text)
      if (Option.isSome(full)) {
        const p = full.value
        return new HttpProblem({ status: response.status, type: p.type, detail: p.detail, errors: p.errors ?? [], retryAfter })
      }
      const loose = Option.getOrUndefined(decodeLoose(text))
      return new HttpProblem({
        status: response.status,
        type: loose?.type ?? `http_${response.status}`,
        detail: loose?.detail ?? loose?.title ?? text.slice(0, 200),
        errors: [],
        retryAfter
      })
    })
  )

/**
 * Every 4xx/5xx answer becomes an `HttpProblem` before anything decodes it: CyNode services answer errors as
 * Problem Details, not as the tagged errors their HttpApi contracts declare, so callers branch on `status`.
 */
export const failOnProblem = <E, R>(client: HttpClient.HttpClient.With<E, R>): HttpClient.HttpClient.With<E | HttpProblem, R> =>
  client.pipe(
    HttpClient.transformResponse(
      Effect.flatMap((response) => (response.status < 400 ? Effect.succeed(response) : Effect.flatMap(problemOf(response), Effect.fail)))
    )
  )
