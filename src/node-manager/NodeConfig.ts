import { Data, Either, Option, ParseResult, Redacted, Schema } from "effect"
import { badEnvKey } from "../../schema/job.ts"

/**
 * The node's reading of `node_configuration_payload_v1` (worker-node.md §3 step 5, §4 "Config"): only the keys the
 * node uses, everything else ignored (new optional fields must not break an old node, WORKER-0136). The control
 * plane's writer schema is `schema/node.ts`; this reader is deliberately more tolerant of what it does not read.
 */

export type AckErrorType =
  | "config_invalid"
  | "unsupported_payload_version"
  | "worker_api_start_failed"
  | "inference_start_failed"
  | "local_policy_refused"
  /** A config fetched while running changes more than the worker token (ConfigRefresh.ts). */
  | "restart_required"

/** The delivered config cannot be applied; `configVersion` is known when the failed ack can be sent. */
export class ConfigRejected extends Data.TaggedError("ConfigRejected")<{
  readonly type: "config_invalid" | "unsupported_payload_version"
  readonly reason: string
  readonly configVersion: Option.Option<string>
}> {}

const PositiveInt = Schema.Int.pipe(Schema.positive())

const InferenceBackendReading = Schema.Struct({
  enabled: Schema.optional(Schema.Boolean),
  image: Schema.optional(Schema.String),
  variant: Schema.optional(Schema.String),
  port: Schema.optional(Schema.Int.pipe(Schema.between(1, 65535))),
  env: Schema.optional(
    Schema.Record({ key: Schema.String, value: Schema.String }).pipe(
      Schema.filter((env) => {
        const bad = badEnvKey(env)
        return bad === undefined ? true : `env key ${JSON.stringify(bad)} is not a valid variable name`
      })
    )
  )
})

const ConfigReading = Schema.Struct({
  version: Schema.Literal(1),
  config_version: Schema.NonEmptyString,
  node_slug: Schema.String,
  worker_api: Schema.Struct({
    orchestrator_bearer_token: Schema.NonEmptyString,
    orchestrator_bearer_token_expires_at: Schema.optional(Schema.String)
  }),
  policy: Schema.optional(Schema.Struct({
    sandbox: Schema.optional(Schema.Struct({ allowed_images: Schema.optional(Schema.Array(Schema.String)) }))
  })),
  inference_backend: Schema.optional(InferenceBackendReading),
  constraints: Schema.optional(Schema.Struct({
    max_request_bytes: Schema.optional(PositiveInt),
    max_job_timeout_seconds: Schema.optional(PositiveInt)
  }))
})

export interface InferenceInstruction {
  readonly image: Option.Option<string>
  readonly port: number
  readonly env: Readonly<Record<string, string>>
  readonly variant: string
}

export interface NodeConfig {
  readonly configVersion: string
  readonly token: Redacted.Redacted<string>
  readonly tokenExpiresAt: Option.Option<Date>
  readonly allowedImages: Option.Option<ReadonlyArray<string>>
  /** Present when `inference_backend.enabled` is true. */
  readonly inference: Option.Option<InferenceInstruction>
  readonly constraints: { readonly max_request_bytes?: number; readonly max_job_timeout_seconds?: number }
}

const field = (raw: unknown, key: string): unknown =>
  typeof raw === "object" && raw !== null && key in raw ? (raw as Record<string, unknown>)[key] : undefined

/** Step 5: version 1, our slug, a config version and a token; anything else is a `ConfigRejected`. */
export const validateConfig = (raw: unknown, nodeSlug: string): Either.Either<NodeConfig, ConfigRejected> => {
  const versionField = field(raw, "config_version")
  const configVersion = typeof versionField === "string" && versionField !== "" ? Option.some(versionField) : Option.none()
  const version = field(raw, "version")
  if (version !== 1) {
    return Either.left(new ConfigRejected({
      type: "unsupported_payload_version",
      reason: `config payload version ${JSON.stringify(version)} is not supported (this node supports version 1)`,
      configVersion
    }))
  }
  const decoded = Schema.decodeUnknownEither(ConfigReading)(raw, { errors: "all" })
  if (Either.isLeft(decoded)) {
    return Either.left(new ConfigRejected({
      type: "config_invalid",
      reason: `the config is invalid: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`,
      configVersion
    }))
  }
  const c = decoded.right
  if (c.node_slug !== nodeSlug) {
    return Either.left(new ConfigRejected({
      type: "config_invalid",
      reason: `the config is for node ${JSON.stringify(c.node_slug)}, not this node (${nodeSlug})`,
      configVersion
    }))
  }
  const expires = c.worker_api.orchestrator_bearer_token_expires_at
  const expiresAt = expires === undefined ? undefined : new Date(expires)
  if (expiresAt !== undefined && Number.isNaN(expiresAt.getTime())) {
    return Either.left(new ConfigRejected({
      type: "config_invalid",
      reason: "worker_api.orchestrator_bearer_token_expires_at is not a timestamp",
      configVersion
    }))
  }
  const backend = c.inference_backend
  return Either.right({
    configVersion: c.config_version,
    token: Redacted.make(c.worker_api.orchestrator_bearer_token),
    tokenExpiresAt: Option.fromNullable(expiresAt),
    allowedImages: Option.fromNullable(c.policy?.sandbox?.allowed_images),
    inference: backend?.enabled === true
      ? Option.some({
        image: Option.fromNullable(backend.image).pipe(Option.filter((s) => s.trim() !== "")),
        port: backend.port ?? 11434,
        env: backend.env ?? {},
        variant: backend.variant ?? "cpu"
      })
      : Option.none(),
    constraints: {
      ...(c.constraints?.max_request_bytes !== undefined ? { max_request_bytes: c.constraints.max_request_bytes } : {}),
      ...(c.constraints?.max_job_timeout_seconds !== undefined
        ? { max_job_timeout_seconds: c.constraints.max_job_timeout_seconds }
        : {})
    }
  })
}
