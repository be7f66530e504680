import { Effect, Option, Redacted, Schema } from "effect"
import { NodeCapabilityReport, type InferenceBackend, type InferenceVariant, type NodeConfigurationPayload } from "../../schema/node.ts"
import { toTimestamp } from "../../schema/time.ts"
import { nextConfigVersion, sha256Hash } from "./ConfigVersion.ts"
import { ControlPlaneConfig, type ControlPlaneSettings } from "./ControlPlaneConfig.ts"
import { NodesRepo, type NodeRow } from "./NodesRepo.ts"
import { WorkerTokens } from "./WorkerTokens.ts"

/** Builds `node_configuration_payload_v1` for a node and mints its config version (control-plane.md §6). */

export const INFERENCE_PORT = 11434

const SETTING_INFERENCE_ENABLED = "node.inference.enabled"
const imageSettingKey = (variant: InferenceVariant) => `node.inference.image.${variant}`
const SETTING_KEYS = [SETTING_INFERENCE_ENABLED, ...(["cpu", "cuda", "rocm"] as const).map(imageSettingKey)]

const decodeSnapshot = Schema.decodeUnknownOption(NodeCapabilityReport)

/** A setting stored as jsonb `false`, or as the string "false". */
const isFalse = (value: unknown) => value === false || value === "false"

/** The six rules of §6, first match wins; `undefined` means "omit inference_backend". */
export const inferenceBackendFor = (
  snapshot: Option.Option<NodeCapabilityReport>,
  settings: ReadonlyMap<string, unknown>,
  config: Pick<ControlPlaneSettings, "inferenceModel" | "inferenceImages"> & { readonly inferencePort?: number }
): InferenceBackend | undefined => {
  if (Option.isNone(snapshot)) return undefined
  const report = snapshot.value
  const inference = report.inference
  if (inference?.existing_service === true) return undefined
  if (inference?.mode === "disabled") return undefined
  if (inference?.supported !== true) return undefined
  if (report.node.labels?.includes("sandbox_only") === true) return undefined
  if (isFalse(settings.get(SETTING_INFERENCE_ENABLED)) && inference.mode !== "require") return undefined
  const devices = report.gpu?.devices ?? []
  const variant: InferenceVariant = devices.some((d) => d.features?.rocm_version !== undefined)
    ? "rocm"
    : devices.some((d) => d.features?.cuda_capability !== undefined)
    ? "cuda"
    : "cpu"
  const fromSetting = settings.get(imageSettingKey(variant))
  const image = typeof fromSetting === "string" && fromSetting !== ""
    ? Option.some(fromSetting)
    : config.inferenceImages[variant]
  return {
    enabled: true,
    variant,
    port: config.inferencePort ?? INFERENCE_PORT,
    ...(Option.isSome(image) ? { image: image.value } : {}),
    selected_model: config.inferenceModel
  }
}

export class ConfigDelivery extends Effect.Service<ConfigDelivery>()("cynode/ConfigDelivery", {
  effect: Effect.gen(function*() {
    const repo = yield* NodesRepo
    const tokens = yield* WorkerTokens
    const config = yield* ControlPlaneConfig

    /**
     * Secret rotation is an operation, not a failure: a stored worker token the current key cannot decrypt gets a
     * fresh one. The payload then differs, so a new config version goes out; the node applies it with the new token
     * and acks, and only then is it dispatchable again.
     */
    const reissueToken = (node: NodeRow, undecryptable: string, reason: string) =>
      Effect.gen(function*() {
        const fresh = yield* tokens.generate
        const stored = yield* repo.replaceWorkerToken(node.id, undecryptable, tokens.encrypt(fresh))
        if (Option.isNone(stored)) return yield* Effect.dieMessage(`node ${node.node_slug} vanished while its token was re-issued`)
        yield* Effect.logWarning("worker token re-issued: the stored one cannot be decrypted with the current key").pipe(
          Effect.annotateLogs({ node: node.node_slug, reason, hint: "WORKER_TOKEN_KEY or JWT_SECRET was rotated" })
        )
        return yield* tokens.decrypt(stored.value).pipe(Effect.orDie)
      })

    /** The payload for a node; the version is reused while the payload (minus version and time) is unchanged. */
    const payloadFor = (node: NodeRow) =>
      Effect.gen(function*() {
        const snapshot = Option.flatMap(yield* repo.latestSnapshot(node.id), decodeSnapshot)
        const settings = yield* repo.settings(SETTING_KEYS)
        const token = node.worker_api_bearer_token === null
          ? yield* Effect.dieMessage(`node ${node.node_slug} has no worker token`)
          : yield* tokens.decrypt(node.worker_api_bearer_token).pipe(
            Effect.catchTag("UndecryptableWorkerToken", (e) => reissueToken(node, node.worker_api_bearer_token ?? "", e.reason))
          )
        const inferenceBackend = inferenceBackendFor(snapshot, settings, config)
        const body = {
          version: 1 as const,
          node_slug: node.node_slug,
          orchestrator: {
            base_url: config.publicUrl,
            endpoints: {
              worker_api_target_url: node.worker_api_target_url ?? "",
              node_report_url: `${config.publicUrl}/v1/nodes/capability`
            }
          },
          model_cache: { cache_url: "" },
          policy: {
            sandbox: { default_network_policy: "restricted", allowed_images: [config.sandboxImage] },
            updates: { enable_dynamic_config: false }
          },
          worker_api: { orchestrator_bearer_token: Redacted.value(token) },
          ...(inferenceBackend !== undefined ? { inference_backend: inferenceBackend } : {}),
          constraints: { max_job_timeout_seconds: config.maxJobTimeoutSeconds }
        }
        const version = yield* repo.issueConfig(
          node.id,
          sha256Hash(body),
          inferenceBackend !== undefined,
          (last) => nextConfigVersion(last)
        )
        if (Option.isNone(version)) return Option.none<NodeConfigurationPayload>()
        const { version: payloadVersion, ...rest } = body
        const payload: NodeConfigurationPayload = {
          version: payloadVersion,
          config_version: version.value,
          issued_at: toTimestamp(new Date()),
          ...rest
        }
        return Option.some(payload)
      }).pipe(Effect.withSpan("ConfigDelivery.payloadFor"))

    // Stored tokens this process's key decrypts: a heartbeat then costs no decryption (the key never changes while
    // the process runs; a re-issued token is a new entry).
    const decryptable = new Set<string>()

    /**
     * The config version a heartbeating node should run. A stored worker token the current key cannot decrypt (the
     * control plane restarted with a rotated secret while the node kept running) is re-issued right here, through
     * `payloadFor`: the new token makes a new version, which the heartbeat's answer hands the node at once. The
     * heartbeat rather than the claim, because every live node heartbeats whether or not work is queued, the
     * answer goes straight back to that node, and the claim (under its lock) reads only dispatchable nodes and
     * writes none. The new version is not acked yet, so the node is not dispatchable until it applies it.
     */
    const versionForHeartbeat = (nodeId: string, beat: { readonly issued_config_version: string | null; readonly worker_api_bearer_token: string | null }) =>
      Effect.gen(function*() {
        const stored = beat.worker_api_bearer_token
        if (stored === null || stored === "" || decryptable.has(stored)) return beat.issued_config_version
        if (yield* Effect.isSuccess(tokens.decrypt(stored))) {
          if (decryptable.size >= 100_000) decryptable.clear()
          decryptable.add(stored)
          return beat.issued_config_version
        }
        const node = yield* repo.findById(nodeId)
        if (Option.isNone(node)) return beat.issued_config_version
        const payload = yield* payloadFor(node.value)
        return Option.match(payload, { onNone: () => beat.issued_config_version, onSome: (p) => p.config_version })
      }).pipe(Effect.withSpan("ConfigDelivery.versionForHeartbeat"))

    return { payloadFor, versionForHeartbeat }
  })
}) {}
