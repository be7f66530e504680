import { Schema } from "effect"
import { CollectedArtifacts } from "./artifacts.ts"
import { Identifier } from "./ids.ts"
import { InferenceJob, refuseLaterPhase, SandboxJob } from "./job.ts"
import { Timestamp } from "./time.ts"

/**
 * Worker API wire shapes (worker-node.md §6, DECISIONS.md "Inference model"). A run request carries exactly one of
 * `sandbox` and `inference` (their shapes are the job's own, schema/job.ts). Unknown fields are ignored; NUL is
 * refused in every string the worker reads.
 */

export const WORKER_PAYLOAD_VERSION = 1

/** A lease's number in one database-wide sequence: a later lease on a job has a larger one. */
export const LeaseSeq = Schema.Int.pipe(Schema.nonNegative(), Schema.annotations({ identifier: "LeaseSeq" }))

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
      : refuseLaterPhase({ job_spec_json: r.job_spec_json })
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

/** The worker's record of a job run: `GET /v1/worker/jobs/{job_id}`, and `<mount_root>/<job_id>/job.json`. */
export const JobRecord = Schema.Union(RunningJob, RunJobResponse).pipe(Schema.annotations({ identifier: "JobStatus" }))
export type JobRecord = typeof JobRecord.Type

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
