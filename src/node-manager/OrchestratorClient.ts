import { Data, Duration, Effect, Either, Option, Redacted, Ref, Schedule, Schema, type Scope } from "effect"

/**
 * The node's side of the orchestrator contract (worker-node.md §4). Registration goes to
 * `<CYNODE_ORCHESTRATOR_URL>/v1/nodes/register`; every later call uses ONLY the URLs of the bootstrap payload, with
 * `Authorization: Bearer <node_jwt>`. The JWT lives in memory as `Redacted`.
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

interface Answer {
  readonly status: number
  readonly text: string
}

const reasonOf = (e: unknown): string => {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause
    return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message
  }
  return String(e)
}

/** `detail` of a Problem Details body, else the start of the text. */
const detailOf = (text: string): string => {
  try {
    const json: unknown = JSON.parse(text)
    if (typeof json === "object" && json !== null && "detail" in json && typeof json.detail === "string") return json.detail
  } catch {
    // not JSON
  }
  return text.slice(0, 200)
}

class Retryable extends Data.TaggedError("Retryable")<{ readonly reason: string }> {}

/** One HTTP exchange with its own time limit. */
const exchange = (
  method: string,
  url: string,
  body: unknown,
  jwt: Option.Option<Redacted.Redacted<string>>,
  timeout: Duration.Duration = CALL_TIMEOUT
) =>
  Effect.tryPromise({
    try: async (signal) => {
      const headers: Record<string, string> = { accept: "application/json" }
      if (body !== undefined) headers["content-type"] = "application/json"
      if (Option.isSome(jwt)) headers.authorization = `Bearer ${Redacted.value(jwt.value)}`
      const res = await fetch(url, {
        method,
        headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))]),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      return { status: res.status, text: await res.text() } satisfies Answer
    },
    catch: (e) => new Retryable({ reason: reasonOf(e) })
  }).pipe(
    Effect.filterOrFail((a) => a.status < 500, (a) => new Retryable({ reason: `HTTP ${a.status}: ${detailOf(a.text)}` }))
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

const parseSession = (url: string, text: string, now: Date): Either.Either<Session, BadOrchestratorAnswer> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return Either.left(new BadOrchestratorAnswer({ operation: "register", url, reason: "the reply is not JSON" }))
  }
  const decoded = Schema.decodeUnknownEither(BootstrapReading)(json)
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

export const makeOrchestratorClient = (options: ClientOptions) =>
  Effect.gen(function*() {
    const initialRegisterUrl = `${options.orchestratorUrl}/v1/nodes/register`
    const session = yield* Ref.make(Option.none<Session>())
    const registrations = yield* Ref.make(0)
    const mutex = yield* Effect.makeSemaphore(1)

    /** Retries network errors and 5xx inside the window; everything else is the caller's. */
    const call = (operation: string, method: string, url: string, body: unknown, jwt: Option.Option<Redacted.Redacted<string>>) =>
      exchange(method, url, body, jwt).pipe(
        Effect.tapError((e) =>
          Effect.logWarning("orchestrator call failed; retrying").pipe(
            Effect.annotateLogs({ operation, url, reason: e.reason })
          )
        ),
        Effect.retry(retryWithin(options.waitSeconds)),
        Effect.catchTag("Retryable", (e) =>
          Effect.fail(new OrchestratorUnreachable({ operation, url, reason: `${e.reason} (gave up after ${options.waitSeconds} s)` }))
        )
      )

    const registerOnce = Effect.gen(function*() {
      const url = Option.match(yield* Ref.get(session), { onNone: () => initialRegisterUrl, onSome: (s) => s.registerUrl })
      const capability = yield* options.capability
      const answer = yield* call("register", "POST", url, { psk: Redacted.value(options.psk), capability }, Option.none())
      if (answer.status !== 200 && answer.status !== 201) {
        return yield* new OrchestratorRefused({ operation: "register", url, status: answer.status, detail: detailOf(answer.text) })
      }
      const next = yield* parseSession(url, answer.text, new Date())
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
    const authed = (operation: string, method: string, urlOf: (s: Session) => string, body: unknown) =>
      Effect.gen(function*() {
        const s = yield* current
        const first = yield* call(operation, method, urlOf(s), body, Option.some(s.jwt))
        if (first.status !== 401) return { answer: first, url: urlOf(s) }
        yield* Effect.logInfo("node JWT refused; registering again").pipe(Effect.annotateLogs({ operation }))
        const fresh = yield* reregister(s.jwt)
        return { answer: yield* call(operation, method, urlOf(fresh), body, Option.some(fresh.jwt)), url: urlOf(fresh) }
      })

    const expect = (operation: string, wanted: ReadonlyArray<number>) =>
    (r: { readonly answer: Answer; readonly url: string }) =>
      wanted.includes(r.answer.status)
        ? Effect.succeed(r.answer)
        : Effect.fail(new OrchestratorRefused({ operation, url: r.url, status: r.answer.status, detail: detailOf(r.answer.text) }))

    /** GET node_config_url: the raw JSON (validation is the pipeline's next step). */
    const fetchConfig = authed("fetch config", "GET", (s) => s.configUrl, undefined).pipe(
      Effect.flatMap(expect("fetch config", [200])),
      Effect.flatMap((answer) =>
        Effect.try({
          try: (): unknown => JSON.parse(answer.text),
          catch: () => new BadOrchestratorAnswer({ operation: "fetch config", url: "node_config_url", reason: "the config is not JSON" })
        })
      )
    )

    const ack = (body: unknown) =>
      authed("config ack", "POST", (s) => s.configUrl, body).pipe(Effect.flatMap(expect("config ack", [204, 200])), Effect.asVoid)

    const report = (capability: unknown) =>
      authed("capability report", "POST", (s) => s.reportUrl, capability).pipe(
        Effect.flatMap(expect("capability report", [204, 200])),
        Effect.asVoid
      )

    /**
     * One heartbeat: a single call limited to `timeout` (so a partition does not hold the next beat back), no retry
     * (the next tick is the retry); a 401 re-registers first. Fails
     * with the reason when the control plane did not take it.
     */
    const heartbeat = (timeout: Duration.Duration) => Effect.gen(function*() {
      const s = yield* current
      if (Option.isNone(s.heartbeatUrl)) return
      const url = s.heartbeatUrl.value
      let answer = yield* exchange("POST", url, undefined, Option.some(s.jwt), timeout)
      if (answer.status === 401) {
        const fresh = yield* reregister(s.jwt).pipe(Effect.mapError((e) => new Retryable({ reason: e._tag })))
        answer = yield* exchange("POST", Option.getOrElse(fresh.heartbeatUrl, () => url), undefined, Option.some(fresh.jwt), timeout)
      }
      if (answer.status !== 204 && answer.status !== 200) {
        return yield* new Retryable({ reason: `HTTP ${answer.status}: ${detailOf(answer.text)}` })
      }
    })

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
