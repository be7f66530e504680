import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, Either, Layer, Redacted } from "effect"
import { Unauthorized } from "../../schema/problem.ts"
import { decodeRunRequest } from "./Decode.ts"
import { Jobs } from "./Jobs.ts"
import { WorkerApi, WorkerAuth } from "../../api/worker.ts"
import { followOutput } from "./OutputFollow.ts"
import { WorkerState } from "./WorkerState.ts"

/** Handlers of the Worker API, and its bearer check (run by HttpApi on the matched route, before the body is read). */

export const HealthLive = HttpApiBuilder.group(WorkerApi, "health", (handlers) =>
  Effect.gen(function*() {
    const state = yield* WorkerState
    return handlers
      .handle("healthz", () => Effect.succeed("ok"))
      .handle("readyz", () =>
        Effect.flatMap(state.readiness, Either.match({ onLeft: Effect.fail, onRight: () => Effect.succeed("ready") })))
  }))

export const JobsHttpLive = HttpApiBuilder.group(WorkerApi, "jobs", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* Jobs
    return handlers
      .handle("run", ({ request }) =>
        // A body that cannot be read (over the limit, aborted) is answered by layers/Http.ts.
        request.text.pipe(
          Effect.orDie,
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

/** 401 (with `WWW-Authenticate: Bearer`, added by layers/Http.ts) for a missing, wrong or expired token. */
export const WorkerAuthLive = Layer.effect(
  WorkerAuth,
  Effect.map(WorkerState, (state) =>
    WorkerAuth.of({
      bearer: (token) =>
        Effect.flatMap(
          state.authorize(`Bearer ${Redacted.value(token)}`),
          Either.match({ onLeft: (detail) => Effect.fail(new Unauthorized({ detail })), onRight: () => Effect.void })
        )
    }))
)
