import { Schema } from "effect"
import { CollectedArtifacts } from "./artifacts.ts"
import { InputFiles } from "./files.ts"
import { Identifier, NonEmptySafeString, SafeString, utf8Length } from "./ids.ts"
import { Timestamp } from "./time.ts"

/**
 * Worker API wire shapes (worker-node.md §6, DECISIONS.md "Inference model"). A run request carries exactly one of
 * `sandbox` and `inference`. Unknown fields are ignored; NUL is refused in every string the worker reads.
 */

export const WORKER_PAYLOAD_VERSION = 1

/** `^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$`: never starts with `-`, so it can never be read as a runtime flag. */
export const SandboxImage = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/, {
    message: () => "must be an image reference of letters, digits and ._/:@- (at most 255 characters, not starting with '-')"
  }),
  Schema.annotations({ identifier: "SandboxImage" })
)

export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** The job's own environment; keys are checked one by one so the error names the bad key. */
export const JobEnv = Schema.Record({ key: Schema.String, value: SafeString }).pipe(
  Schema.filter((env) => {
    const bad = Object.keys(env).find((k) => !ENV_KEY_PATTERN.test(k))
    return bad === undefined ? true : `env key ${JSON.stringify(bad)} must match ${ENV_KEY_PATTERN.source}`
  }),
  Schema.annotations({ identifier: "JobEnv" })
)

export const NetworkPolicy = Schema.Literal("none", "restricted")
export type NetworkPolicy = typeof NetworkPolicy.Type

const PHASE_1_ONLY = "unsupported in Phase 1"

/** Later-phase fields are refused, never silently ignored. */
const refuseLaterPhase = <A extends { readonly use_inference?: unknown; readonly job_spec_json?: unknown }>(
  value: A
): true | string =>
  value.use_inference === true
    ? `use_inference: ${PHASE_1_ONLY} (inference from inside a sandbox is Phase 1.5)`
    : value.job_spec_json !== undefined
    ? `job_spec_json: ${PHASE_1_ONLY}`
    : true

export const SandboxJob = Schema.Struct({
  image: SandboxImage,
  command: Schema.NonEmptyArray(SafeString),
  env: Schema.optionalWith(JobEnv, { exact: true }),
  timeout_seconds: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { exact: true }),
  network_policy: Schema.optionalWith(NetworkPolicy, { exact: true }),
  files: Schema.optionalWith(InputFiles, { exact: true }),
  use_inference: Schema.optionalWith(Schema.Unknown, { exact: true }),
  job_spec_json: Schema.optionalWith(Schema.Unknown, { exact: true })
}).annotations({ identifier: "SandboxJobFields" }).pipe(Schema.filter(refuseLaterPhase), Schema.annotations({ identifier: "SandboxJob" }))
export type SandboxJob = typeof SandboxJob.Type

/** A lease's number in one database-wide sequence: a later lease on a job has a larger one. */
export const LeaseSeq = Schema.Int.pipe(Schema.nonNegative(), Schema.annotations({ identifier: "LeaseSeq" }))

export const MAX_PROMPT_BYTES = 1024 * 1024

export const InferenceJob = Schema.Struct({
  model: NonEmptySafeString.pipe(Schema.maxLength(256)),
  prompt: NonEmptySafeString.pipe(
    Schema.filter((p) => utf8Length(p) <= MAX_PROMPT_BYTES ? true : "must be at most 1 MiB (UTF-8)")
  )
}).pipe(Schema.annotations({ identifier: "InferenceJob" }))
export type InferenceJob = typeof InferenceJob.Type

/**
 * `version` is any integer here: the version check runs after the schema (§6 order), so that an otherwise valid
 * request with version 2 gets the unsupported-payload-version problem.
 */
export const RunJobRequest = Schema.Struct({
  version: Schema.Int,
  task_id: Identifier,
  job_id: Identifier,
  sandbox: Schema.optionalWith(SandboxJob, { exact: true }),
  inference: Schema.optionalWith(InferenceJob, { exact: true }),
  job_spec_json: Schema.optionalWith(Schema.Unknown, { exact: true }),
  /** The dispatcher's lease on the job; `lease_seq` orders leases, so the worker refuses a send older than one seen. */
  lease_id: Schema.optionalWith(Identifier, { exact: true }),
  lease_seq: Schema.optionalWith(LeaseSeq, { exact: true })
}).annotations({ identifier: "RunJobRequestFields" }).pipe(
  Schema.filter((r) =>
    (r.sandbox === undefined) === (r.inference === undefined)
      ? "exactly one of sandbox and inference is required"
      : r.job_spec_json !== undefined
      ? `job_spec_json: ${PHASE_1_ONLY}`
      : true
  ),
  Schema.annotations({ identifier: "RunJobRequest" })
)
export type RunJobRequest = typeof RunJobRequest.Type

export const JobOutcome = Schema.Literal("completed", "failed", "timeout")
export type JobOutcome = typeof JobOutcome.Type

export const Truncated = Schema.Struct({ stdout: Schema.Boolean, stderr: Schema.Boolean })

/** The finished job; `exit_code` is always present (0 included; -1 on timeout or when no process ran). */
export const RunJobResponse = Schema.Struct({
  version: Schema.Literal(WORKER_PAYLOAD_VERSION),
  task_id: Identifier,
  job_id: Identifier,
  status: JobOutcome,
  exit_code: Schema.Int,
  stdout: Schema.String,
  stderr: Schema.String,
  started_at: Timestamp,
  ended_at: Timestamp,
  truncated: Truncated,
  /** What the job left under /workspace/out (sandbox jobs that wrote there). */
  artifacts: Schema.optionalWith(CollectedArtifacts, { exact: true })
}).pipe(Schema.annotations({ identifier: "RunJobResponse" }))
export type RunJobResponse = typeof RunJobResponse.Type

export const RunningJob = Schema.Struct({
  version: Schema.Literal(WORKER_PAYLOAD_VERSION),
  task_id: Identifier,
  job_id: Identifier,
  status: Schema.Literal("running"),
  started_at: Timestamp
}).pipe(Schema.annotations({ identifier: "RunningJob" }))
export type RunningJob = typeof RunningJob.Type

/** `GET /v1/worker/jobs/{job_id}`, and the content of `<mount_root>/<job_id>/job.json`. */
export const JobStatus = Schema.Union(RunningJob, RunJobResponse).pipe(Schema.annotations({ identifier: "JobStatus" }))
export type JobStatus = typeof JobStatus.Type

/**
 * One line of `GET /v1/worker/jobs/{job_id}/output` (NDJSON, `application/x-ndjson`): a piece of live output with
 * its sequence number (1, 2, … per job run; ask again with `after` to resume), or the last line, `{"end": true}`,
 * once the job's output is complete. Empty lines are keep-alives. Each `text` is whole UTF-8: a code point split
 * across reads waits for its remaining bytes.
 */
export const OutputStreamName = Schema.Literal("stdout", "stderr")
export const OutputChunkLine = Schema.Struct({
  seq: Schema.Int.pipe(Schema.positive()),
  stream: OutputStreamName,
  text: Schema.String
}).pipe(Schema.annotations({ identifier: "OutputChunkLine" }))
export type OutputChunkLine = typeof OutputChunkLine.Type
export const OutputEndLine = Schema.Struct({ end: Schema.Literal(true) }).pipe(Schema.annotations({ identifier: "OutputEndLine" }))
export const OutputLine = Schema.Union(OutputChunkLine, OutputEndLine)
export type OutputLine = typeof OutputLine.Type

export const OutputParams = Schema.Struct({
  after: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()))
})
