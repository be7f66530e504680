import { HttpApiClient, HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Data, Duration, Effect, Either, Option, ParseResult, Redacted, Ref, Schedule, Schema, type Scope } from "effect"
import { ControlPlaneApi } from "../../api/control-plane.ts"
import { failOnProblem, HttpProblem } from "../../layers/HttpClient.ts"
import { NodeCapabilityReport, NodeConfigAck } from "../../schema/node.ts"

/**
 * The node's side of the orchestrator contract (worker-node.md §4). Registration goes to
 * `<CYNODE_ORCHESTRATOR_URL>/v1/nodes/register`; every later call uses ONLY the URLs of the bootstrap payload, with
 * `Authorization: Bearer <node_jwt>`. The JWT lives in memory as `Redacted`. Each call is the endpoint of the control
 * plane's own contract (ControlPlaneApi, through HttpApiClient over the process's platform HttpClient), so methods,
 * payload schemas and error statuses are the server's.
 *
 * - Network errors and 5xx are retried with backoff (1 s, doubling, capped at 10 s) inside the wait window; each
 *   call has its own 10 s limit.
 * - A 401 on an authenticated call re-registers (single-flight) and retries that call once.
 * - A background fiber re-registers ahead of `expires_at` (5 minutes before, or half the lifetime when that is
 *   shorter), backing off up to 5 minutes on failure. New JWT and URLs replace the old ones in one `Ref.set`.
 */

const CALL_TIMEOUT = Duration.seconds(10)
const REFRESH_LEAD_MS = 5 * 60_000
const REFRESH_BACKOFF_CAP = Duration.minutes(5)

/** The orchestrator did not answer usefully within the wait window (network errors, 5xx). */
export class OrchestratorUnreachable extends Data.TaggedError("OrchestratorUnreachable")<{
  readonly operation: string
  readonly url: string
  readonly reason: string
}> {}

/** The orchestrator answered with a 4xx we cannot retry our way out of (bad PSK, invalid body, 409, …). */
export class OrchestratorRefused extends Data.TaggedError("OrchestratorRefused")<{
  readonly operation: string
  readonly url: string
  readonly status: number
  readonly detail: string
}> {}

/** A 2xx whose body is not what the contract says. */
export class BadOrchestratorAnswer extends Data.TaggedError("BadOrchestratorAnswer")<{
  readonly operation: string
  readonly url: string
  readonly reason: string
}> {}

export type OrchestratorError = OrchestratorUnreachable | OrchestratorRefused | BadOrchestratorAnswer

export interface Session {
  readonly jwt: Redacted.Redacted<string>
  /** `auth.expires_at` when it parses. */
  readonly expiresAt: Option.Option<Date>
  readonly receivedAt: Date
  readonly registerUrl: string
  readonly configUrl: string
  readonly reportUrl: string
  /** Absent when the control plane predates heartbeats: then the node sends none. */
  readonly heartbeatUrl: Option.Option<string>
}

const AbsoluteUrl = Schema.String.pipe(
  Schema.filter((s) => {
    try {
      const url = new URL(s)
      return url.protocol === "http:" || url.protocol === "https:" ? true : "must be an absolute http(s) URL"
    } catch {
      return "must be an absolute http(s) URL"
    }
  })
)

/**
 * The node's tolerant reading of `node_bootstrap_payload_v1` (§4 "Bootstrap"): version 1, the JWT and the two
 * absolute URLs are required; `worker_registration_url` is optional and `expires_at` is used only when it parses.
 * Extra fields are ignored. (The control plane's stricter writer schema is `schema/node.ts`.)
 */
const BootstrapReading = Schema.Struct({
  version: Schema.Literal(1),
  orchestrator: Schema.Struct({
    endpoints: Schema.Struct({
      worker_registration_url: Schema.optional(AbsoluteUrl),
      node_config_url: AbsoluteUrl,
      node_report_url: AbsoluteUrl,
      node_heartbeat_url: Schema.optional(AbsoluteUrl)
    })
  }),
  auth: Schema.Struct({ node_jwt: Schema.NonEmptyString, expires_at: Schema.optional(Schema.Unknown) })
})

/** The node's reading of the heartbeat's answer: only the issued config version, when there is one. */
const HeartbeatReading = Schema.Struct({ config_version: Schema.optional(Schema.NullOr(Schema.String)) })

/** The config version a heartbeat's 200 body names, if it parses and names one. */
export const issuedVersionOf = (body: ArrayBuffer): Option.Option<string> =>
  Either.match(parseJson(body), {
    onLeft: () => Option.none(),
    onRight: (json) =>
      Option.flatMap(
        Schema.decodeUnknownOption(HeartbeatReading)(json),
        (reading) => Option.fromNullable(reading.config_version).pipe(Option.filter((v) => v !== ""))
      )
  })

/** A 4xx answer: the caller decides (a 401 on an authenticated call registers again). */
class Refusal extends Data.TaggedError("Refusal")<{ readonly status: number; readonly detail: string }> {}

class Retryable extends Data.TaggedError("Retryable")<{ readonly reason: string }> {}

const reasonOf = (e: HttpClientError.HttpClientError): string => {
  const cause = e.cause
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message
}

/** The start of a body that is not what the contract says (for a refusal's detail). */
const startOf = (body: ArrayBuffer) => new TextDecoder().decode(body).slice(0, 200)

/** The answer of one exchange: its status, and its body read on demand (the body of a 2xx, read once and kept). */
interface Answer {
  readonly status: number
  readonly body: Effect.Effect<ArrayBuffer, Retryable>
}

type NodesClient = Effect.Effect.Success<ReturnType<typeof nodesClient>>

/**
 * The `nodes` group of the control plane's contract over the platform client, aimed at one absolute URL (from the
 * bootstrap: no path is hard-coded after registration, worker-node.md §4) with the node JWT when there is one.
 * Every 4xx/5xx fails as an HttpProblem before anything decodes it. A 2xx whose body the contract's writer schema
 * does not match still succeeds: the node reads bootstrap and config answers with its own, more tolerant readers
 * (§4; NodeConfig.ts), and any 2xx counts as taken.
 */
const nodesClient = (http: HttpClient.HttpClient, url: string, jwt: Option.Option<Redacted.Redacted<string>>) =>
  HttpApiClient.group(ControlPlaneApi, {
    group: "nodes",
    httpClient: failOnProblem(
      http.pipe(
        HttpClient.mapRequest((request) => {
          const aimed = HttpClientRequest.acceptJson(HttpClientRequest.setUrl(request, url))
          return Option.isSome(jwt) ? HttpClientRequest.bearerToken(aimed, jwt.value) : aimed
        })
      )
    ),
    transformResponse: (decoded) =>
      decoded.pipe(
        Effect.catchIf(
          (e) => ParseResult.isParseError(e) || (HttpClientError.isHttpClientError(e) && e._tag === "ResponseError"),
          () => Effect.void
        )
      )
  })

/**
 * One exchange with its own time limit: network errors, 5xx and timeouts are `Retryable`, other 4xx a `Refusal`.
 * `send` is the contract's call, with its response.
 */
const exchange = (
  http: HttpClient.HttpClient,
  url: string,
  jwt: Option.Option<Redacted.Redacted<string>>,
  send: (client: NodesClient) => Effect.Effect<readonly [unknown, HttpClientResponse.HttpClientResponse], unknown>,
  timeout: Duration.Duration = CALL_TIMEOUT
): Effect.Effect<Answer, Retryable | Refusal> =>
  nodesClient(http, url, jwt).pipe(
    Effect.flatMap(send),
    Effect.map(([, response]): Answer => ({
      status: response.status,
      body: Effect.mapError(response.arrayBuffer, (e) => new Retryable({ reason: reasonOf(e) }))
    })),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Retryable({ reason: `no answer within ${Duration.format(timeout)}` }) }),
    Effect.catchAll((e): Effect.Effect<never, Retryable | Refusal> => {
      if (e instanceof Retryable) return Effect.fail(e)
      if (e instanceof HttpProblem) {
        return Effect.fail(
          e.status >= 500 ? new Retryable({ reason: `HTTP ${e.status}: ${e.detail}` }) : new Refusal({ status: e.status, detail: e.detail })
        )
      }
      if (HttpClientError.isHttpClientError(e)) return Effect.fail(new Retryable({ reason: reasonOf(e) }))
      return Effect.die(e)
    })
  )

/** Backoff 1 s, 2 s, 4 s, … capped at 10 s, for as long as the wait window lasts. */
const retryWithin = (waitSeconds: number) =>
  Schedule.exponential("1 second", 2).pipe(
    Schedule.union(Schedule.spaced("10 seconds")),
    Schedule.upTo(Duration.seconds(waitSeconds))
  )

export interface ClientOptions {
  readonly orchestratorUrl: string
  readonly psk: Redacted.Redacted<string>
  readonly waitSeconds: number
  /** The capability report sent inside each registration (measured anew each time). */
  readonly capability: Effect.Effect<unknown>
}

const parseJson = (body: ArrayBuffer): Either.Either<unknown, string> => {
  try {
    return Either.right(JSON.parse(new TextDecoder().decode(body)))
  } catch {
    return Either.left("the reply is not JSON")
  }
}

const parseSession = (url: string, body: ArrayBuffer, now: Date): Either.Either<Session, BadOrchestratorAnswer> => {
  const json = parseJson(body)
  if (Either.isLeft(json)) return Either.left(new BadOrchestratorAnswer({ operation: "register", url, reason: json.left }))
  const decoded = Schema.decodeUnknownEither(BootstrapReading)(json.right)
  if (Either.isLeft(decoded)) {
    return Either.left(new BadOrchestratorAnswer({
      operation: "register",
      url,
      reason: `the reply is not a usable node_bootstrap_payload_v1: ${decoded.left.message}`
    }))
  }
  const b = decoded.right
  const expires = typeof b.auth.expires_at === "string" ? new Date(b.auth.expires_at) : undefined
  return Either.right({
    jwt: Redacted.make(b.auth.node_jwt),
    expiresAt: expires !== undefined && !Number.isNaN(expires.getTime()) ? Option.some(expires) : Option.none(),
    receivedAt: now,
    registerUrl: b.orchestrator.endpoints.worker_registration_url ?? url,
    configUrl: b.orchestrator.endpoints.node_config_url,
    reportUrl: b.orchestrator.endpoints.node_report_url,
    heartbeatUrl: Option.fromNullable(b.orchestrator.endpoints.node_heartbeat_url)
  })
}

/**
 * A payload checked against the contract before it is sent (it is encoded with the same schema); one that does not
 * match is refused here, the way the control plane would answer it.
 */
const checked = <A, I>(schema: Schema.Schema<A, I>, operation: string, url: string, payload: unknown) =>
  Schema.decodeUnknown(schema)(payload).pipe(
    Effect.mapError((e) =>
      new OrchestratorRefused({ operation, url, status: 400, detail: `not sent: the payload does not match the contract: ${e.message}` })
    )
  )

export const makeOrchestratorClient = (options: ClientOptions) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const initialRegisterUrl = `${options.orchestratorUrl}/v1/nodes/register`
    const session = yield* Ref.make(Option.none<Session>())
    const registrations = yield* Ref.make(0)
    const mutex = yield* Effect.makeSemaphore(1)

    type Send = (client: NodesClient) => Effect.Effect<readonly [unknown, HttpClientResponse.HttpClientResponse], unknown>

    /** Retries network errors and 5xx inside the window; a 4xx is the caller's. */
    const call = (operation: string, url: string, jwt: Option.Option<Redacted.Redacted<string>>, send: Send) =>
      exchange(http, url, jwt, send).pipe(
        Effect.tapError((e) =>
          e._tag === "Retryable"
            ? Effect.logWarning("orchestrator call failed; retrying").pipe(Effect.annotateLogs({ operation, url, reason: e.reason }))
            : Effect.void
        ),
        Effect.retry({ schedule: retryWithin(options.waitSeconds), while: (e) => e._tag === "Retryable" }),
        Effect.catchTag("Retryable", (e) =>
          Effect.fail(new OrchestratorUnreachable({ operation, url, reason: `${e.reason} (gave up after ${options.waitSeconds} s)` }))
        )
      )

    const refused = (operation: string, url: string) => (e: Refusal) =>
      new OrchestratorRefused({ operation, url, status: e.status, detail: e.detail })

    /** A 2xx other than the ones the contract names is refused with the start of its body. */
    const expect = (operation: string, url: string, wanted: ReadonlyArray<number>) => (answer: Answer) =>
      wanted.includes(answer.status)
        ? Effect.succeed(answer)
        : answer.body.pipe(
          Effect.orElseSucceed(() => new ArrayBuffer(0)),
          Effect.flatMap((body) => new OrchestratorRefused({ operation, url, status: answer.status, detail: startOf(body) }))
        )

    const registerOnce = Effect.gen(function*() {
      const url = Option.match(yield* Ref.get(session), { onNone: () => initialRegisterUrl, onSome: (s) => s.registerUrl })
      const capability = yield* checked(NodeCapabilityReport, "register", url, yield* options.capability)
      const answer = yield* call("register", url, Option.none(), (c) =>
        c.register({ payload: { psk: Redacted.value(options.psk), capability }, withResponse: true })).pipe(
          Effect.catchTag("Refusal", (e) => Effect.fail(refused("register", url)(e))),
          Effect.flatMap(expect("register", url, [200, 201]))
        )
      const body = yield* answer.body.pipe(
        Effect.mapError((e) => new BadOrchestratorAnswer({ operation: "register", url, reason: e.reason }))
      )
      const next = yield* parseSession(url, body, new Date())
      yield* Ref.set(session, Option.some(next))
      yield* Ref.update(registrations, (n) => n + 1)
      yield* Effect.logInfo(answer.status === 201 ? "node registered" : "node re-registered").pipe(
        Effect.annotateLogs({
          register_url: url,
          node_config_url: next.configUrl,
          node_report_url: next.reportUrl,
          jwt_expires_at: Option.match(next.expiresAt, { onNone: () => "unknown", onSome: (d) => d.toISOString() })
        })
      )
      return next
    })

    /** Registers with the PSK (startup). */
    const register = mutex.withPermits(1)(registerOnce)

    /** Single-flight: only the first caller that saw `stale` registers again; the others reuse its result. */
    const reregister = (stale: Redacted.Redacted<string> | undefined) =>
      mutex.withPermits(1)(
        Effect.gen(function*() {
          const current = yield* Ref.get(session)
          if (Option.isSome(current) && stale !== undefined && current.value.jwt !== stale) return current.value
          return yield* registerOnce
        })
      )

    const current = Effect.flatMap(Ref.get(session), Option.match({
      onNone: () => Effect.dieMessage("orchestrator call before registration"),
      onSome: Effect.succeed
    }))

    /** An authenticated call to a URL of the bootstrap; a 401 re-registers and retries once. */
    const authed = (operation: string, urlOf: (s: Session) => string, send: Send, wanted: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const s = yield* current
        const first = yield* call(operation, urlOf(s), Option.some(s.jwt), send).pipe(Effect.either)
        if (Either.isRight(first)) return yield* expect(operation, urlOf(s), wanted)(first.right)
        if (first.left._tag !== "Refusal" || first.left.status !== 401) {
          return yield* first.left._tag === "Refusal" ? Effect.fail(refused(operation, urlOf(s))(first.left)) : Effect.fail(first.left)
        }
        yield* Effect.logInfo("node JWT refused; registering again").pipe(Effect.annotateLogs({ operation }))
        const fresh = yield* reregister(s.jwt)
        return yield* call(operation, urlOf(fresh), Option.some(fresh.jwt), send).pipe(
          Effect.catchTag("Refusal", (e) => Effect.fail(refused(operation, urlOf(fresh))(e))),
          Effect.flatMap(expect(operation, urlOf(fresh), wanted))
        )
      })

    /** GET node_config_url: the raw JSON (validation is the pipeline's next step). */
    const fetchConfig = authed("fetch config", (s) => s.configUrl, (c) => c.config({ withResponse: true }), [200]).pipe(
      Effect.flatMap((answer) => answer.body),
      Effect.mapError((e) =>
        e._tag === "Retryable" ? new BadOrchestratorAnswer({ operation: "fetch config", url: "node_config_url", reason: e.reason }) : e
      ),
      Effect.flatMap((body) =>
        Either.mapLeft(
          parseJson(body),
          () => new BadOrchestratorAnswer({ operation: "fetch config", url: "node_config_url", reason: "the config is not JSON" })
        )
      )
    )

    const ack = (body: unknown) =>
      Effect.gen(function*() {
        const payload = yield* checked(NodeConfigAck, "config ack", "node_config_url", body)
        yield* authed("config ack", (s) => s.configUrl, (c) => c.ack({ payload, withResponse: true }), [204, 200])
      })

    const report = (capability: unknown) =>
      Effect.gen(function*() {
        const payload = yield* checked(NodeCapabilityReport, "capability report", "node_report_url", capability)
        yield* authed("capability report", (s) => s.reportUrl, (c) => c.capability({ payload, withResponse: true }), [204, 200])
      })

    /**
     * One heartbeat: a single call limited to `timeout` (so a partition does not hold the next beat back), no retry
     * (the next tick is the retry); a 401 re-registers first. Fails with the reason when the control plane did not
     * take it; else answers the config version issued to the node now, when the control plane says (an older one
     * answers 204 without a body).
     */
    const heartbeat = (timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const s = yield* current
        if (Option.isNone(s.heartbeatUrl)) return Option.none<string>()
        const url = s.heartbeatUrl.value
        const beat = (to: string, jwt: Redacted.Redacted<string>) =>
          exchange(http, to, Option.some(jwt), (c) => c.heartbeat({ withResponse: true }), timeout)
        const first = yield* beat(url, s.jwt).pipe(Effect.either)
        const answer = Either.isLeft(first) && first.left._tag === "Refusal" && first.left.status === 401
          ? yield* reregister(s.jwt).pipe(
            Effect.mapError((e) => new Retryable({ reason: e._tag })),
            Effect.flatMap((fresh) => beat(Option.getOrElse(fresh.heartbeatUrl, () => url), fresh.jwt))
          )
          : yield* first
        if (answer.status !== 204 && answer.status !== 200) {
          const body = yield* answer.body.pipe(Effect.orElseSucceed(() => new ArrayBuffer(0)))
          return yield* new Retryable({ reason: `HTTP ${answer.status}: ${startOf(body)}` })
        }
        if (answer.status === 204) return Option.none<string>()
        // The beat was taken whatever the body says; an unreadable one only means no version to compare.
        const body = yield* answer.body.pipe(Effect.orElseSucceed(() => new ArrayBuffer(0)))
        return issuedVersionOf(body)
      }).pipe(
        Effect.catchTag("Refusal", (e) => Effect.fail(new Retryable({ reason: `HTTP ${e.status}: ${e.detail}` })))
      )

    /** Re-registers ahead of expiry, forever (forked into the caller's scope). */
    const keepFresh: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function*() {
      const loop = Effect.gen(function*() {
        const s = yield* current
        if (Option.isNone(s.expiresAt)) return yield* Effect.never
        const lifetime = s.expiresAt.value.getTime() - s.receivedAt.getTime()
        const lead = Math.min(REFRESH_LEAD_MS, Math.max(lifetime, 0) / 2)
        yield* Effect.sleep(Duration.millis(Math.max(s.expiresAt.value.getTime() - lead - Date.now(), 0)))
        yield* reregister(s.jwt).pipe(
          Effect.tapError((e) => Effect.logWarning("re-registration failed; backing off", e)),
          Effect.retry(Schedule.exponential("1 second", 2).pipe(Schedule.union(Schedule.spaced(REFRESH_BACKOFF_CAP)))),
          Effect.orDie
        )
      })
      yield* Effect.forkScoped(Effect.forever(loop))
    })

    return {
      register,
      fetchConfig,
      ack,
      report,
      heartbeat,
      keepFresh,
      /** Successful registrations so far (startup included). */
      registrations: Ref.get(registrations)
    }
  })

export type OrchestratorClient = Effect.Effect.Success<ReturnType<typeof makeOrchestratorClient>>
