import { Schema } from "effect"
import { InputFiles } from "./files.ts"
import { NonEmptySafeString, SafeString } from "./ids.ts"

/**
 * `jobs.payload`: exactly one variant (DECISIONS.md "Settled details", control-plane.md §9 step 4).
 * The gateway writes it, the dispatcher completes it (`image` ⇒ `SANDBOX_IMAGE`, `model` ⇒ `INFERENCE_MODEL`)
 * and the worker receives it. Both variants refuse unknown keys, so a payload with both or neither fails.
 */

const exact = { parseOptions: { onExcessProperty: "error", errors: "all" } } as const

export const JobStatus = Schema.Literal("queued", "running", "completed", "failed", "canceled")
export type JobStatus = typeof JobStatus.Type

export const NetworkPolicy = Schema.Literal("none", "restricted")
export type NetworkPolicy = typeof NetworkPolicy.Type

/** An image reference: never empty, never whitespace, never starting with `-` (so it can't pass as an option). */
export const ImageRef = NonEmptySafeString.pipe(
  Schema.maxLength(512),
  Schema.filter((s) => (/^[^-\s][^\s]*$/.test(s) ? true : "must not start with '-' or contain whitespace")),
  Schema.annotations({ identifier: "ImageRef" })
)

export const EnvName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { message: () => "must be an environment variable name" })
)

/** A node label as reported in `node.labels` (e.g. `zone=a`, `ssd`). */
export const NodeLabel = NonEmptySafeString.pipe(Schema.maxLength(128), Schema.annotations({ identifier: "NodeLabel" }))

/**
 * Where a job may run (docs/dispatch.md "Placement"): on a node carrying every label of `node_selector`, and, with
 * `inference: true`, only on an inference path. Kept on the job; never sent to the worker.
 */
export const Placement = Schema.Struct({
  node_selector: Schema.optional(Schema.Array(NodeLabel).pipe(Schema.maxItems(16))),
  inference: Schema.optional(Schema.Boolean)
}).annotations({ ...exact, identifier: "Placement" })
export type Placement = typeof Placement.Type

export const SandboxJob = Schema.Struct({
  image: Schema.optional(ImageRef),
  /** argv, never a shell string: the gateway sends `["sh", "-c", <script>]`. */
  command: Schema.NonEmptyArray(SafeString),
  env: Schema.optional(Schema.Record({ key: EnvName, value: SafeString })),
  timeout_seconds: Schema.optional(Schema.Int.pipe(Schema.positive())),
  network_policy: Schema.optional(NetworkPolicy),
  placement: Schema.optional(Placement),
  /** Written under /workspace before the command starts. */
  files: Schema.optional(InputFiles)
}).annotations({ ...exact, identifier: "SandboxJob" })
export type SandboxJob = typeof SandboxJob.Type

export const InferenceRequest = Schema.Struct({
  prompt: SafeString,
  model: Schema.optional(NonEmptySafeString)
}).annotations({ ...exact, identifier: "InferenceRequest" })
export type InferenceRequest = typeof InferenceRequest.Type

export const InferenceJob = Schema.Struct({
  inference: InferenceRequest,
  placement: Schema.optional(Placement)
}).annotations({ ...exact, identifier: "InferenceJob" })
export type InferenceJob = typeof InferenceJob.Type

export const JobPayload = Schema.Union(SandboxJob, InferenceJob).annotations({ identifier: "JobPayload" })
export type JobPayload = typeof JobPayload.Type

export const isInferenceJob = (payload: JobPayload): payload is InferenceJob => "inference" in payload
