import { Schema } from "effect"
import { Identifier, NonEmptySafeString, SafeString } from "./ids.ts"
import { Timestamp } from "./time.ts"
import { isHttpUrl } from "./url.ts"

/**
 * Node ↔ control-plane wire shapes (control-plane.md §4-§7, worker-node.md §4). Exact field names; the control plane
 * validates the fields it reads and keeps everything else of a capability report uninterpreted.
 */

/** `version` is an integer on the wire; anything but 1 is answered with the unsupported-payload-version problem. */
export const PayloadVersion = Schema.Int.annotations({
  identifier: "PayloadVersion",
  description: "payload version; only 1 is supported",
  arbitrary: () => (fc) => fc.constant(1)
})

/** NUL characters and lone UTF-16 surrogates cannot be stored in PostgreSQL `jsonb`/`text`. */
// oxlint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|\p{Surrogate}/u

/** True when some string (key or value) anywhere in a JSON value cannot be stored in PostgreSQL. */
export const hasUnstorableText = (value: unknown): boolean => {
  if (typeof value === "string") return UNSTORABLE.test(value)
  if (Array.isArray(value)) return value.some(hasUnstorableText)
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).some(([k, v]) => UNSTORABLE.test(k) || hasUnstorableText(v))
  }
  return false
}

const storable = <S extends Schema.Schema.Any>(schema: S) =>
  schema.pipe(
    Schema.filter((value) => (hasUnstorableText(value) ? "must not contain NUL characters or unpaired surrogates" : true))
  )

/** An absolute http(s) URL with a host (a node's `worker_api.base_url`). */
export const HttpUrl = Schema.String.pipe(
  Schema.filter((s) => (isHttpUrl(s) ? true : "must be an absolute http(s) URL with a host")),
  Schema.annotations({
    identifier: "HttpUrl",
    arbitrary: () => (fc) => fc.webUrl({ validSchemes: ["http", "https"] })
  })
)

const WireTimestamp = Timestamp
export const NodeSlug = Identifier

const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
const NonNegative = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

export const InferenceMode = Schema.Literal("allow", "disabled", "require")

export const GpuDevice = Schema.Struct({
  vendor: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  vram_mb: Schema.optional(NonNegative),
  features: Schema.optional(Schema.Struct({
    cuda_capability: Schema.optional(Schema.String),
    rocm_version: Schema.optional(Schema.String)
  }))
})

/**
 * `node_capability_report_v1`. Only the fields the control plane reads are typed; unknown fields (at any depth) are
 * preserved when decoding, and the raw JSON is what gets stored.
 */
export const NodeCapabilityReport = storable(Schema.Struct({
  version: PayloadVersion,
  reported_at: WireTimestamp,
  node: Schema.Struct({
    node_slug: NodeSlug,
    name: Schema.optional(Schema.String),
    labels: Schema.optional(Schema.Array(Schema.String))
  }),
  platform: Schema.optional(Schema.Struct({ os: Schema.optional(Schema.String), arch: Schema.optional(Schema.String) })),
  compute: Schema.optional(Schema.Struct({ cpu_cores: Schema.optional(NonNegativeInt), ram_mb: Schema.optional(NonNegative) })),
  gpu: Schema.optional(Schema.Struct({ present: Schema.optional(Schema.Boolean), devices: Schema.optional(Schema.Array(GpuDevice)) })),
  sandbox: Schema.optional(Schema.Struct({ max_concurrency: Schema.optional(NonNegativeInt) })),
  inference: Schema.optional(Schema.Struct({
    supported: Schema.optional(Schema.Boolean),
    mode: Schema.optional(InferenceMode),
    existing_service: Schema.optional(Schema.Boolean),
    running: Schema.optional(Schema.Boolean)
  })),
  worker_api: Schema.optional(Schema.Struct({ base_url: Schema.optional(HttpUrl) }))
})).annotations({
  identifier: "NodeCapabilityReportV1",
  title: "node_capability_report_v1",
  parseOptions: { onExcessProperty: "preserve" }
})
export type NodeCapabilityReport = typeof NodeCapabilityReport.Type

/** `POST /v1/nodes/register` body. */
export const RegisterRequest = Schema.Struct({
  psk: Schema.String,
  capability: NodeCapabilityReport
}).annotations({ identifier: "NodeRegisterRequest" })
export type RegisterRequest = typeof RegisterRequest.Type

/** `node_bootstrap_payload_v1`. */
export const NodeBootstrapPayload = Schema.Struct({
  version: Schema.Literal(1),
  issued_at: Timestamp,
  orchestrator: Schema.Struct({
    base_url: Schema.String,
    endpoints: Schema.Struct({
      worker_registration_url: Schema.String,
      node_report_url: Schema.String,
      node_config_url: Schema.String,
      /** Our addition: the light liveness call (`POST`, no body), every `CYNODE_HEARTBEAT_INTERVAL_SECONDS`. */
      node_heartbeat_url: Schema.String
    })
  }),
  auth: Schema.Struct({ node_jwt: Schema.String, expires_at: Timestamp })
}).annotations({ identifier: "NodeBootstrapPayloadV1", title: "node_bootstrap_payload_v1" })
export type NodeBootstrapPayload = typeof NodeBootstrapPayload.Type

export const InferenceVariant = Schema.Literal("cpu", "cuda", "rocm")
export type InferenceVariant = typeof InferenceVariant.Type

export const InferenceBackend = Schema.Struct({
  enabled: Schema.Literal(true),
  variant: InferenceVariant,
  port: Schema.Int,
  image: Schema.optional(Schema.String),
  /** Our non-spec extension: the model prompt tasks use (= `INFERENCE_MODEL`). */
  selected_model: Schema.String
})
export type InferenceBackend = typeof InferenceBackend.Type

/** `node_configuration_payload_v1`. */
export const NodeConfigurationPayload = Schema.Struct({
  version: Schema.Literal(1),
  config_version: Schema.String,
  issued_at: Timestamp,
  node_slug: Schema.String,
  orchestrator: Schema.Struct({
    base_url: Schema.String,
    endpoints: Schema.Struct({ worker_api_target_url: Schema.String, node_report_url: Schema.String })
  }),
  model_cache: Schema.Struct({ cache_url: Schema.String }),
  policy: Schema.Struct({
    sandbox: Schema.Struct({ default_network_policy: Schema.String, allowed_images: Schema.Array(Schema.String) }),
    updates: Schema.Struct({ enable_dynamic_config: Schema.Boolean })
  }),
  worker_api: Schema.Struct({ orchestrator_bearer_token: Schema.String }),
  inference_backend: Schema.optional(InferenceBackend),
  constraints: Schema.Struct({ max_job_timeout_seconds: Schema.Int })
}).annotations({ identifier: "NodeConfigurationPayloadV1", title: "node_configuration_payload_v1" })
export type NodeConfigurationPayload = typeof NodeConfigurationPayload.Type

/**
 * The heartbeat's answer: the config version issued to the node now (null before its first config fetch). A node
 * running another version fetches its config again; that is how a re-issued worker token reaches a running node.
 */
export const NodeHeartbeatAnswer = Schema.Struct({
  config_version: Schema.NullOr(Schema.String)
}).annotations({ identifier: "NodeHeartbeatAnswer" })
export type NodeHeartbeatAnswer = typeof NodeHeartbeatAnswer.Type

export const ConfigAckStatus = Schema.Literal("applied", "failed").annotations({
  message: () => ({ message: "status must be applied or failed", override: true })
})

export const ConfigAckError = Schema.Struct({
  type: NonEmptySafeString,
  message: SafeString,
  details: Schema.optional(storable(Schema.Unknown))
})

/** `node_config_ack_v1`; `error` is required when `status` is `failed` (our choice). */
export const NodeConfigAck = Schema.Struct({
  version: PayloadVersion,
  node_slug: NodeSlug,
  config_version: NonEmptySafeString.pipe(Schema.maxLength(128)),
  ack_at: Schema.optional(WireTimestamp),
  status: ConfigAckStatus,
  error: Schema.optional(ConfigAckError),
  effective_config_hash: Schema.optional(SafeString),
  managed_services_status: Schema.optional(storable(Schema.Unknown))
}).pipe(
  Schema.filter((ack) =>
    ack.status === "failed" && ack.error === undefined ? "error {type, message} is required when status is failed" : true
  )
).annotations({ identifier: "NodeConfigAckV1", title: "node_config_ack_v1" })
export type NodeConfigAck = typeof NodeConfigAck.Type

/** A node as operators see it (`GET /v1/nodes` on the user gateway, `cynode node list`). */
export const NodeView = Schema.Struct({
  node_slug: Schema.String,
  /** Liveness: `active` (heartbeats arrive), `lost` (none within the TTL), or `registered`. */
  status: Schema.String,
  /** The operator's word: `enabled`, `draining`, `drained` or `disabled`. */
  admin_state: Schema.String,
  /** Whether the dispatcher may give it a new job now. */
  dispatchable: Schema.Boolean,
  last_seen_at: Schema.NullOr(Schema.String),
  lost_at: Schema.NullOr(Schema.String),
  running_jobs: Schema.Int,
  free_slots: Schema.Int,
  labels: Schema.Array(Schema.String),
  capabilities: Schema.Struct({
    max_concurrency: Schema.NullOr(Schema.Int),
    inference: Schema.Boolean,
    cpu_cores: Schema.NullOr(Schema.Number),
    ram_mb: Schema.NullOr(Schema.Number),
    gpu: Schema.Boolean
  }),
  worker_api_target_url: Schema.NullOr(Schema.String)
}).annotations({ identifier: "NodeView" })
export type NodeView = typeof NodeView.Type

export const NodeList = Schema.Struct({ nodes: Schema.Array(NodeView) }).annotations({ identifier: "NodeList" })
export type NodeList = typeof NodeList.Type

export const NodeSlugPath = Schema.Struct({ node_slug: NodeSlug })
