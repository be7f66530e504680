import { Schema } from "effect"
import { InputFiles } from "./files.ts"
import { NonEmptySafeString, SafeString, utf8Length } from "./ids.ts"

/**
 * The job, from the gateway's row to the worker's run (control-plane.md §9, worker-node.md §6). One set of field
 * rules serves every edge: the gateway writes a stored payload, the dispatcher decodes it and completes it
 * (`image` ⇒ `SANDBOX_IMAGE`, `model` ⇒ `INFERENCE_MODEL`), the worker decodes the same fields in its run request.
 */

/** A job row's status (`jobs.status`). */
export const JobStatus = Schema.Literal("queued", "running", "completed", "failed", "canceled")
export type JobStatus = typeof JobStatus.Type

export const NetworkPolicy = Schema.Literal("none", "restricted")
export type NetworkPolicy = typeof NetworkPolicy.Type

/**
 * An image reference, `^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$` (worker-node.md §6): it never starts with `-`, so it
 * can never be read as a runtime flag.
 */
export const ImageRef = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/, {
    message: () => "must be an image reference of letters, digits and ._/:@- (at most 255 characters, not starting with '-')"
  }),
  Schema.annotations({ identifier: "ImageRef" })
)

export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** The first key of an environment that is not a variable name, if any. */
export const badEnvKey = (env: Readonly<Record<string, unknown>>): string | undefined =>
  Object.keys(env).find((k) => !ENV_KEY_PATTERN.test(k))

/** A job's own environment; keys are checked one by one so the error names the bad key. */
export const JobEnv = Schema.Record({ key: Schema.String, value: SafeString }).pipe(
  Schema.filter((env) => {
    const bad = badEnvKey(env)
    return bad === undefined ? true : `env key ${JSON.stringify(bad)} must match ${ENV_KEY_PATTERN.source}`
  }),
  Schema.annotations({ identifier: "JobEnv" })
)

export const MAX_PROMPT_BYTES = 1024 * 1024

export const Prompt = NonEmptySafeString.pipe(
  Schema.filter((p) => utf8Length(p) <= MAX_PROMPT_BYTES ? true : "must be at most 1 MiB (UTF-8)")
)

export const ModelName = NonEmptySafeString.pipe(Schema.maxLength(256))

/** A node label as reported in `node.labels` (e.g. `zone=a`, `ssd`). */
export const NodeLabel = NonEmptySafeString.pipe(Schema.maxLength(128), Schema.annotations({ identifier: "NodeLabel" }))

const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** The fields of a sandbox run that every edge shares; `image` is added per edge (optional until dispatch). */
const sandboxFields = {
  /** argv, never a shell string: the gateway sends `["sh", "-c", <script>]`. */
  command: Schema.NonEmptyArray(SafeString),
  env: optional(JobEnv),
  timeout_seconds: optional(Schema.Int.pipe(Schema.positive())),
  network_policy: optional(NetworkPolicy),
  /** Written under /workspace before the command starts. */
  files: optional(InputFiles)
}

const PHASE_1_ONLY = "unsupported in Phase 1"

/** Later-phase fields are refused, never silently ignored. */
export const refuseLaterPhase = <A extends { readonly use_inference?: unknown; readonly job_spec_json?: unknown }>(
  value: A
): true | string =>
  value.use_inference === true
    ? `use_inference: ${PHASE_1_ONLY} (inference from inside a sandbox is Phase 1.5)`
    : value.job_spec_json !== undefined
    ? `job_spec_json: ${PHASE_1_ONLY}`
    : true

/** A sandbox run as the worker receives it (`sandbox` of a run request): the image is always there. */
export const SandboxJob = Schema.Struct({
  image: ImageRef,
  ...sandboxFields,
  use_inference: optional(Schema.Unknown),
  job_spec_json: optional(Schema.Unknown)
}).annotations({ identifier: "SandboxJobFields" }).pipe(
  Schema.filter(refuseLaterPhase),
  Schema.annotations({ identifier: "SandboxJob" })
)
export type SandboxJob = typeof SandboxJob.Type

/** An inference run as the worker receives it (`inference` of a run request): the model is always there. */
export const InferenceJob = Schema.Struct({
  model: ModelName,
  prompt: Prompt
}).pipe(Schema.annotations({ identifier: "InferenceJob" }))
export type InferenceJob = typeof InferenceJob.Type

// --- `jobs.payload`: what the gateway stores (DECISIONS.md "Settled details") ---

/** Stored payloads refuse unknown keys, so a payload with both variants or neither fails. */
const exact = { parseOptions: { onExcessProperty: "error", errors: "all" } } as const

/**
 * Where a job may run (docs/dispatch.md "Placement"): on a node carrying every label of `node_selector`, and, with
 * `inference: true`, only on an inference path. Kept on the job; never sent to the worker.
 */
export const Placement = Schema.Struct({
  node_selector: optional(Schema.Array(NodeLabel).pipe(Schema.maxItems(16))),
  inference: optional(Schema.Boolean)
}).annotations({ ...exact, identifier: "Placement" })
export type Placement = typeof Placement.Type

/** A stored sandbox job: the worker's fields, the image optional, and where it may run. */
export const SandboxPayload = Schema.Struct({
  image: optional(ImageRef),
  ...sandboxFields,
  placement: optional(Placement)
}).annotations({ ...exact, identifier: "SandboxPayload" })
export type SandboxPayload = typeof SandboxPayload.Type

export const InferenceRequest = Schema.Struct({
  prompt: Prompt,
  model: optional(ModelName)
}).annotations({ ...exact, identifier: "InferenceRequest" })
export type InferenceRequest = typeof InferenceRequest.Type

export const InferencePayload = Schema.Struct({
  inference: InferenceRequest,
  placement: optional(Placement)
}).annotations({ ...exact, identifier: "InferencePayload" })
export type InferencePayload = typeof InferencePayload.Type

export const JobPayload = Schema.Union(SandboxPayload, InferencePayload).annotations({ identifier: "JobPayload" })
export type JobPayload = typeof JobPayload.Type

export const isInferenceJob = (payload: JobPayload): payload is InferencePayload => "inference" in payload

/** The payload after the claim completed it: what the worker is sent, and where it may run. */
export type CompletedPayload =
  | { readonly _tag: "sandbox"; readonly sandbox: SandboxJob; readonly placement?: Placement }
  | { readonly _tag: "inference"; readonly inference: InferenceJob; readonly placement?: Placement }
