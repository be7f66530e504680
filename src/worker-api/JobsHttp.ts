import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option } from "effect"
import { problemResponse } from "../../layers/Http.ts"
import { BadRequest, problemFor } from "../../schema/problem.ts"
import { decodeRunRequest } from "./Decode.ts"
import { Jobs } from "./Jobs.ts"
import { followOutput } from "./OutputFollow.ts"
import { PROTECTED_PREFIX, WorkerApi } from "./JobsApi.ts"
import { WorkerState, type WorkerStateShape } from "./WorkerState.ts"

/** Handlers of the Worker API, and the bearer gate that runs before any body is read. */

export const HealthLive = HttpApiBuilder.group(WorkerApi, "health", (handlers) =>
  Effect.gen(function*() {
    const state = yield* WorkerState
    return handlers
      .handle("healthz", () => Effect.succeed("ok"))
      .handle("readyz", () =>
        Effect.flatMap(state.readiness, (r) => (r.ok ? Effect.succeed("ready") : Effect.fail(r.reason))))
  }))

export const JobsHttpLive = HttpApiBuilder.group(WorkerApi, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    return handlers
      .handle("run", ({ request }) =>
        request.text.pipe(
          Effect.mapError(() => new BadRequest({ detail: "cannot read the request body" })),
          Effect.flatMap(decodeRunRequest),
          Effect.flatMap(jobs.run)
        ))
      .handle("status", ({ path, urlParams }) => jobs.status(path.job_id, urlParams.lease_seq))
      .handle("output", ({ path, urlParams }) =>
        Effect.map(jobs.output(path.job_id), (log) =>
          HttpServerResponse.stream(followOutput(log, urlParams.after ?? 0), {
            contentType: "application/x-ndjson",
            headers: { "cache-control": "no-store" }
          })))
      .handle("cancel", ({ path }) => jobs.cancel(path.job_id))
  }))

/** 401 with `WWW-Authenticate: Bearer` for a missing, wrong or expired token on every `/v1/worker/` path. */
export const bearerGate = (state: WorkerStateShape) =>
(request: HttpServerRequest.HttpServerRequest, requestId: string) =>
  request.url.startsWith(PROTECTED_PREFIX)
    ? Effect.map(state.authorize(request.headers["authorization"]), (outcome) =>
      outcome.ok
        ? Option.none<HttpServerResponse.HttpServerResponse>()
        : Option.some(problemResponse(problemFor(401, outcome.detail, { instance: requestId }))))
    : Effect.succeed(Option.none<HttpServerResponse.HttpServerResponse>())
