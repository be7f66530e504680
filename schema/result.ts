import { Schema } from "effect"
import { RunJobResponse } from "./worker.ts"

/**
 * `jobs.result`: the worker's response as it sent it, or, when no response came, the dispatcher's failure
 * (control-plane.md §9 step 6). The gateway shows it as JSON text inside a string (user-gateway.md §4).
 */

export const FailureType = Schema.Literal(
  "invalid_payload",
  "worker_auth_failed",
  "worker_rejected",
  "outcome_unknown",
  "not_started",
  "node_lost",
  "unsatisfiable"
)
export type FailureType = typeof FailureType.Type

/** What the worker said when it refused the job. */
export const WorkerProblem = Schema.Struct({ status: Schema.Int, type: Schema.String, detail: Schema.String })

/** `{"version":1,"status":"failed","error":…,"error_type":…}`, plus what the worker said. */
export const FailureResult = Schema.Struct({
  version: Schema.Literal(1),
  status: Schema.Literal("failed"),
  error: Schema.String,
  error_type: FailureType,
  worker_problem: Schema.optionalWith(WorkerProblem, { exact: true })
}).annotations({ identifier: "FailureResult" })
export type FailureResult = typeof FailureResult.Type

export const failure = (
  error_type: FailureType,
  error: string,
  worker_problem?: FailureResult["worker_problem"]
): FailureResult => ({
  version: 1,
  status: "failed",
  error,
  error_type,
  ...(worker_problem !== undefined ? { worker_problem } : {})
})

export const JobResult = Schema.Union(RunJobResponse, FailureResult).annotations({ identifier: "JobResult" })
export type JobResult = typeof JobResult.Type

/**
 * The stored result as the tasks API carries it: JSON text in a string, parsed twice by its readers. Any stored
 * value passes through as it is (a result the control plane rewrote, say, after its artifacts were stored).
 */
export const ResultText = Schema.parseJson()
export const toResultText: (result: unknown) => string = Schema.encodeSync(ResultText)

// oxlint-disable-next-line no-control-regex -- NUL is exactly what this replaces
const UNSTORABLE = /\u0000|\p{Surrogate}/gu

/**
 * Text as PostgreSQL can store it: `text` and `jsonb` refuse NUL and lone surrogates, which a sandbox or a model may
 * well print. Each becomes U+FFFD, like any undecodable output.
 */
export const storableText = (text: string): string => text.replace(UNSTORABLE, "\uFFFD")

/** A result as JSON text that `jsonb` accepts (every string in it storable). */
export const storableJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" ? storableText(v) : v))
