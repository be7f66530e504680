import * as Undici from "@effect/platform-node/Undici"
import { Context, Data, Duration, Effect, Layer, Redacted, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import type { InferenceJob, SandboxJob } from "../../schema/job.ts"
import { JobRecord, OutputLine, RunJobResponse } from "../../schema/worker.ts"

/**
 * HTTP client for a node's Worker API (worker-node.md §6), with each node's own URL and bearer token. Every answer is
 * classified as control-plane.md §9's failure table needs it; nothing here retries a request the worker may have
 * started. undici's 300 s header/body timeouts are raised to the job's deadline (DECISIONS.md "Timeouts").
 */

export interface WorkerTarget {
  readonly nodeSlug: string
  /** `worker_api_target_url`, without a trailing slash. */
  readonly url: string
  readonly token: Redacted.Redacted<string>
}

/** The request body as the worker reads it: exactly one of `sandbox` and `inference` (worker-node.md §6). */
export type RunBody =
  & {
    readonly version: number
    readonly task_id: string
    readonly job_id: string
    readonly lease_id?: string
    readonly lease_seq?: number
  }
  & (
    | { readonly sandbox: Schema.Schema.Encoded<typeof SandboxJob> }
    | { readonly inference: Schema.Schema.Encoded<typeof InferenceJob> }
  )

export type RunOutcome = Data.TaggedEnum<{
  /** 200 with a decodable response for this job; `raw` is stored verbatim. */
  Finished: { readonly raw: unknown; readonly response: RunJobResponse }
  /** Refused before anything could run: connection never made, or 503. Requeue, not counted. */
  NotSent: { readonly reason: string }
  /** 429: requeue after `Retry-After`. */
  RateLimited: { readonly retryAfterMs: number; readonly reason: string }
  /** 401: the node refused this node's token. */
  AuthRefused: { readonly reason: string }
  /** 400, 403, 413, 422: the worker will never run this job. */
  Rejected: { readonly status: number; readonly problemType: string; readonly detail: string }
  /** 409, 500, another status, or the connection lost after sending: the job may run; ask the node. */
  Uncertain: { readonly reason: string }
  /** Deadline passed, or a 200 we cannot read: nobody can say what happened. */
  Unknown: { readonly reason: string }
}>
export const RunOutcome = Data.taggedEnum<RunOutcome>()

export type StatusOutcome = Data.TaggedEnum<{
  Running: {}
  Finished: { readonly raw: unknown; readonly response: RunJobResponse }
  /** 404: the node does not know the job (it never started there, or its record was swept). */
  NotFound: {}
  /** Network error, 5xx, 401 or an unreadable answer: ask again later. */
  Unreachable: { readonly reason: string }
}>
export const StatusOutcome = Data.taggedEnum<StatusOutcome>()

export interface WorkerClientShape {
  /** `POST /v1/worker/jobs:run`; answers when the job ends or `deadlineMs` passes. Never fails. */
  readonly run: (target: WorkerTarget, body: RunBody, deadlineMs: number) => Effect.Effect<RunOutcome>
  /** `GET /v1/worker/jobs/{job_id}`. Never fails. */
  readonly status: (target: WorkerTarget, jobId: string, leaseSeq?: number) => Effect.Effect<StatusOutcome>
  /** `POST /v1/worker/jobs/{job_id}/cancel`; true when the node answered 204 (or 404: nothing to stop). */
  readonly cancel: (target: WorkerTarget, jobId: string) => Effect.Effect<boolean>
  /**
   * `GET /v1/worker/jobs/{job_id}/output?after=N`: the job's live output lines as the node sends them, ending after
   * `{"end":true}`. Fails with `OutputUnavailable` when the node has no live output for the job (404) or the
   * connection breaks; the caller resumes with the last `seq` it stored.
   */
  readonly output: (target: WorkerTarget, jobId: string, after: number) => Stream.Stream<OutputLine, OutputUnavailable>
}

export class OutputUnavailable extends Data.TaggedError("OutputUnavailable")<{
  readonly reason: string
  /** The node does not (or no longer) hold live output for the job: retrying will not help. */
  readonly gone: boolean
}> {}

export class WorkerClient extends Context.Tag("cynode/WorkerClient")<WorkerClient, WorkerClientShape>() {
  static readonly Live = Layer.scoped(WorkerClient, Effect.suspend(() => make))
}

/** Errors raised before the request could reach the worker (control-plane.md §9's pre-send list). */
const PRE_SEND_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT"])
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"])
const SHORT_CALL = Duration.seconds(30)

/** The error code of an undici failure, looking through `cause` chains (fetch-style wrapping). */
export const errorCode = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e === "object" && "code" in e && typeof e.code === "string") return e.code
    e = typeof e === "object" && "cause" in e ? e.cause : undefined
  }
  return undefined
}

const describe = (error: unknown): string => {
  const code = errorCode(error)
  const message = error instanceof Error ? error.message : String(error)
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message
}

/** `Retry-After` as seconds or an HTTP date; absent or unreadable ⇒ 5 s (the worker's own value). */
export const retryAfterMs = (header: string | undefined, now = Date.now()): number => {
  if (header === undefined) return 5_000
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? 5_000 : Math.max(0, at - now)
}

interface Problem {
  readonly type: string
  readonly detail: string
}

const problemOf = (text: string, status: number): Problem => {
  try {
    const json: unknown = JSON.parse(text)
    if (typeof json === "object" && json !== null) {
      const o = json as Record<string, unknown>
      return {
        type: typeof o.type === "string" ? o.type : `http_${status}`,
        detail: typeof o.detail === "string" ? o.detail : typeof o.title === "string" ? o.title : text.slice(0, 200)
      }
    }
  } catch {
    // not JSON: use the text
  }
  return { type: `http_${status}`, detail: text.slice(0, 200) }
}

const decodeResponse = Schema.decodeUnknownEither(RunJobResponse)
const decodeOutputLine = Schema.decodeUnknown(Schema.parseJson(OutputLine))
/** Silence longer than this on the output stream (the node sends a keep-alive every 15 s) means the connection is dead. */
const OUTPUT_IDLE = Duration.seconds(45)
const decodeStatus = Schema.decodeUnknownEither(JobRecord)

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | ReadonlyArray<string> | undefined>
  readonly text: string
}

type CallError =
  | { readonly _tag: "PreSend"; readonly reason: string }
  | { readonly _tag: "Timeout"; readonly reason: string }
  | { readonly _tag: "Lost"; readonly reason: string }

const headerValue = (h: string | ReadonlyArray<string> | undefined) => (typeof h === "string" ? h : h?.[0])

const parseJson = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

const make = Effect.gen(function*() {
  // One connection pool for every node; closed with the layer.
  const agent = yield* Effect.acquireRelease(
    Effect.sync(() => new Undici.Agent({ keepAliveTimeout: 4_000, connectTimeout: 10_000 })),
    (a) => Effect.promise(() => a.close()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  )

  const call = (
    target: WorkerTarget,
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    timeout: Duration.Duration
  ): Effect.Effect<Answer, CallError> => {
    const ms = Duration.toMillis(timeout)
    return Effect.tryPromise({
      try: async (signal) => {
        const res = await Undici.request(`${target.url}${path}`, {
          method,
          dispatcher: agent,
          signal,
          headersTimeout: ms,
          bodyTimeout: ms,
          headers: {
            authorization: `Bearer ${Redacted.value(target.token)}`,
            "x-request-id": randomUUID(),
            ...(body !== undefined ? { "content-type": "application/json" } : {})
          },
          ...(body !== undefined ? { body } : {})
        })
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
      },
      catch: (error): CallError => {
        const code = errorCode(error)
        if (code !== undefined && PRE_SEND_CODES.has(code)) return { _tag: "PreSend", reason: describe(error) }
        if (code !== undefined && TIMEOUT_CODES.has(code)) return { _tag: "Timeout", reason: describe(error) }
        return { _tag: "Lost", reason: describe(error) }
      }
    }).pipe(
      // The hard stop, whatever undici does: the deadline is the deadline.
      Effect.timeoutFail({ duration: timeout, onTimeout: (): CallError => ({ _tag: "Timeout", reason: "deadline passed" }) })
    )
  }

  const run: WorkerClientShape["run"] = (target, body, deadlineMs) =>
    call(target, "POST", "/v1/worker/jobs:run", JSON.stringify(body), Duration.millis(Math.max(1, deadlineMs))).pipe(
      Effect.map((answer): RunOutcome => {
        const problem = () => problemOf(answer.text, answer.status)
        switch (answer.status) {
          case 200: {
            const json = parseJson(answer.text)
            if (!json.ok) return RunOutcome.Unknown({ reason: "the worker's 200 answer is not JSON" })
            const decoded = decodeResponse(json.value)
            if (decoded._tag === "Left") return RunOutcome.Unknown({ reason: "the worker's 200 answer is not a worker response" })
            if (decoded.right.job_id !== body.job_id) {
              return RunOutcome.Unknown({ reason: `the worker answered for job ${decoded.right.job_id}` })
            }
            return RunOutcome.Finished({ raw: json.value, response: decoded.right })
          }
          case 503:
            return RunOutcome.NotSent({ reason: `worker unavailable (503): ${problem().detail}` })
          case 429:
            return RunOutcome.RateLimited({
              retryAfterMs: retryAfterMs(headerValue(answer.headers["retry-after"])),
              reason: `worker busy (429): ${problem().detail}`
            })
          case 401:
            return RunOutcome.AuthRefused({ reason: problem().detail })
          case 400:
          case 403:
          case 413:
          case 422: {
            const p = problem()
            return RunOutcome.Rejected({ status: answer.status, problemType: p.type, detail: p.detail })
          }
          default:
            return RunOutcome.Uncertain({ reason: `worker answered ${answer.status}: ${problem().detail}` })
        }
      }),
      Effect.catchAll((e) =>
        Effect.succeed(
          e._tag === "PreSend"
            ? RunOutcome.NotSent({ reason: `worker unreachable: ${e.reason}` })
            : e._tag === "Timeout"
            ? RunOutcome.Unknown({ reason: `no answer before the job's deadline (${e.reason})` })
            : RunOutcome.Uncertain({ reason: `connection lost after sending: ${e.reason}` })
        )
      ),
      Effect.withSpan("WorkerClient.run", { attributes: { node: target.nodeSlug, job_id: body.job_id } })
    )

  const status: WorkerClientShape["status"] = (target, jobId, leaseSeq) =>
    call(
      target,
      "GET",
      `/v1/worker/jobs/${encodeURIComponent(jobId)}${leaseSeq === undefined ? "" : `?lease_seq=${leaseSeq}`}`,
      undefined,
      SHORT_CALL
    ).pipe(
      Effect.map((answer): StatusOutcome => {
        if (answer.status === 404) return StatusOutcome.NotFound()
        if (answer.status !== 200) {
          return StatusOutcome.Unreachable({ reason: `worker answered ${answer.status}: ${problemOf(answer.text, answer.status).detail}` })
        }
        const json = parseJson(answer.text)
        const decoded = json.ok ? decodeStatus(json.value) : undefined
        if (decoded === undefined || decoded._tag === "Left") {
          return StatusOutcome.Unreachable({ reason: "the worker's job status is unreadable" })
        }
        return decoded.right.status === "running"
          ? StatusOutcome.Running()
          : StatusOutcome.Finished({ raw: json.ok ? json.value : undefined, response: decoded.right })
      }),
      Effect.catchAll((e) => Effect.succeed(StatusOutcome.Unreachable({ reason: e.reason }))),
      Effect.withSpan("WorkerClient.status", { attributes: { node: target.nodeSlug, job_id: jobId } })
    )

  const cancel: WorkerClientShape["cancel"] = (target, jobId) =>
    call(target, "POST", `/v1/worker/jobs/${encodeURIComponent(jobId)}/cancel`, undefined, SHORT_CALL).pipe(
      Effect.map((answer) => answer.status === 204 || answer.status === 404),
      Effect.catchAll(() => Effect.succeed(false)),
      Effect.withSpan("WorkerClient.cancel", { attributes: { node: target.nodeSlug, job_id: jobId } })
    )

  const output: WorkerClientShape["output"] = (target, jobId, after) =>
    Stream.unwrapScoped(
      Effect.gen(function*() {
        const response = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: (signal) =>
              Undici.request(`${target.url}/v1/worker/jobs/${encodeURIComponent(jobId)}/output?after=${after}`, {
                method: "GET",
                dispatcher: agent,
                signal,
                headersTimeout: Duration.toMillis(SHORT_CALL),
                bodyTimeout: Duration.toMillis(OUTPUT_IDLE),
                headers: { authorization: `Bearer ${Redacted.value(target.token)}`, "x-request-id": randomUUID() }
              }),
            catch: (error) => new OutputUnavailable({ reason: describe(error), gone: false })
          }),
          (res) => Effect.sync(() => res.body.destroy())
        )
        if (response.statusCode !== 200) {
          const text = yield* Effect.promise(() => response.body.text().catch(() => ""))
          return yield* new OutputUnavailable({
            reason: `worker answered ${response.statusCode}: ${problemOf(text, response.statusCode).detail}`,
            gone: response.statusCode === 404
          })
        }
        return Stream.fromAsyncIterable(response.body, (error) => new OutputUnavailable({ reason: describe(error), gone: false })).pipe(
          Stream.map((chunk) => chunk as Uint8Array),
          Stream.decodeText(),
          Stream.splitLines,
          Stream.filter((line) => line !== ""),
          Stream.mapEffect((line) =>
            decodeOutputLine(line).pipe(
              Effect.mapError(() => new OutputUnavailable({ reason: "the worker sent an unreadable output line", gone: false }))
            )
          ),
          Stream.takeUntil((line) => "end" in line)
        )
      })
    )

  return { run, status, cancel, output } satisfies WorkerClientShape
})
