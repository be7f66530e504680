import { HttpApiClient, HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Context, Data, Duration, Effect, Layer, ParseResult, Redacted, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { WorkerApi } from "../../api/worker.ts"
import * as OutgoingHttp from "../../layers/HttpClient.ts"
import type { Identifier } from "../../schema/ids.ts"
import type { InferenceJob, SandboxJob } from "../../schema/job.ts"
import { OutputLine, type RunJobResponse } from "../../schema/worker.ts"

/**
 * HTTP client for a node's Worker API (worker-node.md §6), built from the Worker API contract (api/worker.ts) over the
 * shared outgoing HTTP client, with each node's own URL and bearer token. Every answer is classified as
 * control-plane.md §9's failure table needs it; nothing here retries a request the worker may have started. The only
 * time limit on `jobs:run` is the job's deadline (DECISIONS.md "Timeouts").
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

/**
 * What a scripted worker answers (tests): `run` decides each job's outcome from its request; the rest default to a
 * node that never heard of the job (`status` NotFound), stops it when asked (`cancel` true) and has no live output
 * beyond its end line.
 */
export interface WorkerScript {
  readonly run: (body: RunBody, target: WorkerTarget) => Effect.Effect<RunOutcome>
  readonly status?: (jobId: string, target: WorkerTarget, leaseSeq?: number) => Effect.Effect<StatusOutcome>
  readonly cancel?: (jobId: string, target: WorkerTarget) => Effect.Effect<boolean>
  readonly output?: (jobId: string, after: number, target: WorkerTarget) => Stream.Stream<OutputLine, OutputUnavailable>
}

export const makeScripted = (script: WorkerScript): WorkerClientShape => ({
  run: (target, body) => script.run(body, target),
  status: (target, jobId, leaseSeq) => script.status?.(jobId, target, leaseSeq) ?? Effect.succeed(StatusOutcome.NotFound()),
  cancel: (target, jobId) => script.cancel?.(jobId, target) ?? Effect.succeed(true),
  output: (target, jobId, after) => script.output?.(jobId, after, target) ?? Stream.make({ end: true } as const)
})

export class WorkerClient extends Context.Tag("cynode/WorkerClient")<WorkerClient, WorkerClientShape>() {
  /** Over a given `HttpClient` (the process's one, from layers/HttpClient.ts). */
  static readonly layer = Layer.effect(WorkerClient, Effect.suspend(() => make))
  /** With its own connection pool. */
  static readonly Live = WorkerClient.layer.pipe(Layer.provide(OutgoingHttp.layer))
  /** No HTTP: every answer comes from the script (tests of what the dispatcher does with each outcome). */
  static readonly Test = (script: WorkerScript) => Layer.succeed(WorkerClient, makeScripted(script))
}

/** Errors raised before the request could reach the worker (control-plane.md §9's pre-send list). */
const PRE_SEND_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT"])
const SHORT_CALL = Duration.seconds(30)
/** Silence longer than this on the output stream (the node sends a keep-alive every 15 s) means the connection is dead. */
const OUTPUT_IDLE = Duration.seconds(45)

/** The error code of a transport failure (`ECONNREFUSED`, `UND_ERR_SOCKET`, ...), looking through `cause` chains. */
export const errorCode = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e === "object" && "code" in e && typeof e.code === "string") return e.code
    e = typeof e === "object" && "cause" in e ? e.cause : undefined
  }
  return undefined
}

const describe = (error: unknown): string => {
  const code = errorCode(error)
  const inner = HttpClientError.isHttpClientError(error) && error.cause !== undefined ? error.cause : error
  const message = inner instanceof Error ? inner.message : String(inner)
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

const decodeOutputLine = Schema.decodeUnknown(Schema.parseJson(OutputLine))

/** The node a call goes to, and the JSON body of `jobs:run` (the contract leaves the run payload to the handler). */
class Call extends Context.Tag("cynode/WorkerClient/Call")<Call, {
  readonly target: WorkerTarget
  readonly json?: string
}>() {}

/** Job ids come from our own store; the contract's path encoder checks them again before sending. */
const asIdentifier = (jobId: string) => jobId as Identifier

class DeadlinePassed extends Data.TaggedError("DeadlinePassed")<{ readonly reason: string }> {}

type Failure =
  | OutgoingHttp.HttpProblem
  | HttpClientError.HttpClientError
  | ParseResult.ParseError
  | DeadlinePassed

const FAILURE_TAGS: ReadonlySet<string> = new Set(["HttpProblem", "RequestError", "ResponseError", "ParseError", "DeadlinePassed"])
/**
 * The contract's declared error types never reach the callers' handlers: `failOnProblem` turns every 4xx/5xx into an
 * `HttpProblem` before the contract's decoders run, since workers answer errors as Problem Details.
 */
const isFailure = (e: { readonly _tag: string }): e is Failure => FAILURE_TAGS.has(e._tag)

/** The body as the worker sent it, kept verbatim (the decoded value drops fields the schema does not name). */
const rawBody = (response: HttpClientResponse.HttpClientResponse) =>
  response.arrayBuffer.pipe(
    Effect.map((buffer): unknown => JSON.parse(new TextDecoder().decode(buffer))),
    Effect.orElseSucceed((): unknown => undefined)
  )

/** A transport failure: before the request left (pre-send), or after it may have reached the worker. */
const transport = (error: HttpClientError.HttpClientError) => {
  const code = errorCode(error)
  return { preSend: code !== undefined && PRE_SEND_CODES.has(code), reason: describe(error) }
}

const make = Effect.gen(function*() {
  // Each request is addressed to the node named by `Call`, with that node's token and a fresh request id.
  const perNode = OutgoingHttp.failOnProblem(yield* HttpClient.HttpClient).pipe(
    HttpClient.mapRequestEffect((request) =>
      Effect.map(Call, ({ json, target }) => {
        const addressed = request.pipe(
          // The contract stores `jobs:run`'s literal colon escaped for the router (`jobs::run`); HttpApiClient sends
          // the path as stored, so it is unescaped here.
          HttpClientRequest.setUrl(request.url.replaceAll("::", ":")),
          HttpClientRequest.prependUrl(target.url),
          HttpClientRequest.bearerToken(target.token),
          HttpClientRequest.setHeader("x-request-id", randomUUID())
        )
        return json === undefined ? addressed : HttpClientRequest.bodyText(addressed, json, "application/json")
      })
    )
  )
  const api = yield* HttpApiClient.makeWith(WorkerApi, { httpClient: perNode })

  const toNode = (target: WorkerTarget, json?: string) =>
    Effect.provideService(Call, json === undefined ? { target } : { target, json })

  const run: WorkerClientShape["run"] = (target, body, deadlineMs) =>
    api.jobs.run({ withResponse: true }).pipe(
      Effect.flatMap(([response, answer]): Effect.Effect<RunOutcome> =>
        response.job_id !== body.job_id
          ? Effect.succeed(RunOutcome.Unknown({ reason: `the worker answered for job ${response.job_id}` }))
          : Effect.map(rawBody(answer), (raw) => RunOutcome.Finished({ raw, response }))
      ),
      toNode(target, JSON.stringify(body)),
      Effect.timeoutFail({
        duration: Duration.millis(Math.max(1, deadlineMs)),
        onTimeout: () => new DeadlinePassed({ reason: "deadline passed" })
      }),
      Effect.catchAll((e) =>
        Effect.succeed(isFailure(e) ? runFailure(e) : RunOutcome.Uncertain({ reason: `unexpected ${e._tag}` }))
      ),
      Effect.withSpan("WorkerClient.run", { attributes: { node: target.nodeSlug, job_id: body.job_id } })
    )

  const status: WorkerClientShape["status"] = (target, jobId, leaseSeq) =>
    api.jobs.status({ path: { job_id: asIdentifier(jobId) }, urlParams: leaseSeq === undefined ? {} : { lease_seq: leaseSeq }, withResponse: true }).pipe(
      Effect.flatMap(([response, answer]): Effect.Effect<StatusOutcome> =>
        response.status === "running"
          ? Effect.succeed(StatusOutcome.Running())
          : Effect.map(rawBody(answer), (raw) => StatusOutcome.Finished({ raw, response }))
      ),
      toNode(target),
      Effect.timeoutFail({ duration: SHORT_CALL, onTimeout: () => new DeadlinePassed({ reason: "no answer within 30 s" }) }),
      Effect.catchAll((e): Effect.Effect<StatusOutcome> => {
        if (!isFailure(e)) return Effect.succeed(StatusOutcome.Unreachable({ reason: `unexpected ${e._tag}` }))
        switch (e._tag) {
          case "HttpProblem":
            return Effect.succeed(
              e.status === 404 ? StatusOutcome.NotFound() : StatusOutcome.Unreachable({ reason: `worker answered ${e.status}: ${e.detail}` })
            )
          case "ParseError":
            return Effect.succeed(StatusOutcome.Unreachable({ reason: "the worker's job status is unreadable" }))
          case "DeadlinePassed":
            return Effect.succeed(StatusOutcome.Unreachable({ reason: e.reason }))
          default:
            return Effect.succeed(StatusOutcome.Unreachable({ reason: describe(e) }))
        }
      }),
      Effect.withSpan("WorkerClient.status", { attributes: { node: target.nodeSlug, job_id: jobId } })
    )

  const cancel: WorkerClientShape["cancel"] = (target, jobId) =>
    api.jobs.cancel({ path: { job_id: asIdentifier(jobId) } }).pipe(
      Effect.as(true),
      toNode(target),
      Effect.timeout(SHORT_CALL),
      // 404: the node holds nothing to stop.
      Effect.catchAll((e) => Effect.succeed(e._tag === "HttpProblem" && e.status === 404)),
      Effect.withSpan("WorkerClient.cancel", { attributes: { node: target.nodeSlug, job_id: jobId } })
    )

  // NDJSON arrives while the job runs, so this endpoint is read as a byte stream rather than through the contract's
  // buffered client.
  const output: WorkerClientShape["output"] = (target, jobId, after) =>
    Stream.unwrap(
      perNode.get(`/v1/worker/jobs/${encodeURIComponent(jobId)}/output`, { urlParams: { after } }).pipe(
        toNode(target),
        Effect.timeoutFail({ duration: SHORT_CALL, onTimeout: () => new DeadlinePassed({ reason: "no answer within 30 s" }) }),
        Effect.mapError((e) =>
          e._tag === "HttpProblem"
            ? new OutputUnavailable({ reason: `worker answered ${e.status}: ${e.detail}`, gone: e.status === 404 })
            : new OutputUnavailable({ reason: e._tag === "DeadlinePassed" ? e.reason : describe(e), gone: false })
        ),
        Effect.map((response) =>
          response.stream.pipe(
            Stream.timeoutFail(() => new OutputUnavailable({ reason: "the output stream went silent", gone: false }), OUTPUT_IDLE),
            Stream.mapError((e) => (e._tag === "OutputUnavailable" ? e : new OutputUnavailable({ reason: describe(e), gone: false }))),
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
        )
      )
    )

  return { run, status, cancel, output } satisfies WorkerClientShape
})

/** control-plane.md §9's failure table for `jobs:run`. */
const runFailure = (e: Failure): RunOutcome => {
  switch (e._tag) {
    case "HttpProblem":
      switch (e.status) {
        case 503:
          return RunOutcome.NotSent({ reason: `worker unavailable (503): ${e.detail}` })
        case 429:
          return RunOutcome.RateLimited({ retryAfterMs: retryAfterMs(e.retryAfter), reason: `worker busy (429): ${e.detail}` })
        case 401:
          return RunOutcome.AuthRefused({ reason: e.detail })
        case 400:
        case 403:
        case 413:
        case 422:
          return RunOutcome.Rejected({ status: e.status, problemType: e.type, detail: e.detail })
        default:
          return RunOutcome.Uncertain({ reason: `worker answered ${e.status}: ${e.detail}` })
      }
    case "ParseError":
      return RunOutcome.Unknown({ reason: "the worker's 200 answer is not a worker response" })
    case "DeadlinePassed":
      return RunOutcome.Unknown({ reason: `no answer before the job's deadline (${e.reason})` })
    case "RequestError": {
      const t = transport(e)
      return t.preSend
        ? RunOutcome.NotSent({ reason: `worker unreachable: ${t.reason}` })
        : RunOutcome.Uncertain({ reason: `connection lost after sending: ${t.reason}` })
    }
    case "ResponseError":
      // A status the contract does not name (1xx-3xx other than 200), or the body broke off: the job may run.
      return e.response.status === 200
        ? RunOutcome.Uncertain({ reason: `connection lost after sending: ${describe(e)}` })
        : RunOutcome.Uncertain({ reason: `worker answered ${e.response.status}` })
  }
}
