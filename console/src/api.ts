import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Cause, Data, Effect, Either, Exit, Option, ParseResult, Schema } from "effect"
import { ProblemDetails } from "../../schema/problem.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { clearSession, currentSession, saveSession } from "./session.ts"

/**
 * Every call to the gateway goes through `HttpApiClient` of the gateway's own HttpApi definition (GatewayApi), so the
 * paths, parameters, request bodies and success bodies are the server's schemas. The gateway answers every error
 * as RFC 9457 Problem Details; those become an `ApiProblem` here, decoded with the same ProblemDetails schema.
 */

export class ApiProblem extends Data.TaggedError("ApiProblem")<{
  readonly status: number
  readonly detail: string
  readonly errors: ReadonlyArray<{ readonly path: string; readonly message: string }>
}> {}

const decodeProblem = Schema.decodeUnknown(ProblemDetails)

/** A 4xx/5xx response becomes an ApiProblem carrying the server's own explanation. */
const failOnProblem = (response: HttpClientResponse.HttpClientResponse) =>
  response.status < 400
    ? Effect.succeed(response)
    : response.json.pipe(
      Effect.flatMap(decodeProblem),
      Effect.option,
      Effect.flatMap((problem) =>
        Effect.fail(
          new ApiProblem({
            status: response.status,
            detail: Option.match(problem, {
              onNone: () => `the server answered ${response.status}`,
              onSome: (p) => p.detail
            }),
            errors: Option.match(problem, { onNone: () => [], onSome: (p) => p.errors ?? [] })
          })
        )
      )
    )

const fetchClient = Effect.runSync(HttpClient.HttpClient.pipe(Effect.provide(FetchHttpClient.layer)))

/** Plain client: Problem Details decoded, no credentials (login, refresh). */
const baseClient = fetchClient.pipe(HttpClient.transformResponse(Effect.flatMap(failOnProblem)))

export const baseUrl = window.location.origin

const open = Effect.runSync(HttpApiClient.makeWith(GatewayApi, { httpClient: baseClient, baseUrl }))

/**
 * One refresh at a time: concurrent calls that all met an expired access token wait for the same new pair. When
 * another tab already rotated the pair (so ours is refused), its newer tokens in storage are taken instead.
 */
let refreshing: Promise<boolean> | undefined

const refreshOnce = (rejectedAccess: string): Effect.Effect<boolean> =>
  Effect.promise(() => {
    const stored = currentSession()
    if (stored === undefined) return Promise.resolve(false)
    if (stored.access_token !== rejectedAccess) return Promise.resolve(true)
    refreshing ??= Effect.runPromise(
      open.auth.refresh({ payload: { refresh_token: stored.refresh_token } }).pipe(
        Effect.map((pair) => {
          saveSession({ access_token: pair.access_token, refresh_token: pair.refresh_token, handle: stored.handle })
          return true
        }),
        Effect.catchAll(() =>
          Effect.sync(() => {
            const latest = currentSession()
            if (latest !== undefined && latest.refresh_token !== stored.refresh_token) return true
            clearSession()
            return false
          })
        )
      )
    ).finally(() => {
      refreshing = undefined
    })
    return refreshing
  })

const withAccessToken = (request: HttpClientRequest.HttpClientRequest) => {
  const session = currentSession()
  return session === undefined ? request : HttpClientRequest.bearerToken(request, session.access_token)
}

/** Signed-in client: bearer from the session; on 401 the pair is refreshed once and the request sent again. */
export const authedClient = baseClient.pipe(
  HttpClient.mapRequest(withAccessToken),
  HttpClient.transform((effect, request) =>
    effect.pipe(
      Effect.catchIf(
        (error) => error instanceof ApiProblem && error.status === 401 && request.headers.authorization !== undefined,
        (error) =>
          refreshOnce(request.headers.authorization?.replace(/^Bearer /, "") ?? "").pipe(
            Effect.flatMap((ok) => (ok ? baseClient.execute(withAccessToken(request)) : Effect.fail(error)))
          )
      )
    )
  )
)

export const api = Effect.runSync(HttpApiClient.makeWith(GatewayApi, { httpClient: authedClient, baseUrl }))
export const openApi = open

/** What to tell a person about a failed call. */
export const describeError = (error: unknown): string => {
  if (error instanceof ApiProblem) {
    const fields = error.errors.map((e) => `${e.path}: ${e.message}`).join("; ")
    return fields === "" || error.detail.includes(fields) ? error.detail : `${error.detail} (${fields})`
  }
  if (HttpClientError.isHttpClientError(error)) return "The gateway could not be reached. Check your connection."
  if (ParseResult.isParseError(error)) return "The gateway answered something this console does not understand."
  return error instanceof Error ? error.message : String(error)
}

/** Runs a call for a React component: never rejects; the failure (or the defect) is the `Left`. */
export const run = <A, E>(effect: Effect.Effect<A, E>): Promise<Either.Either<A, unknown>> =>
  Effect.runPromiseExit(effect).then((exit) =>
    Exit.isSuccess(exit)
      ? Either.right(exit.value)
      : Either.left(Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause)))
  )
