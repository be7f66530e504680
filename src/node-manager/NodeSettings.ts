import { Config, ConfigError, Effect, Either, Option, Redacted } from "effect"
import { readFile } from "node:fs/promises"
import { baseUrl } from "../../layers/Config.ts"
import { InferenceMode } from "../../schema/node.ts"
import { DEFAULT_SANDBOX_IMAGE, fromEnv as workerSettingsFromEnv, type WorkerSettings } from "../worker-api/Settings.ts"

/**
 * The node manager's environment (worker-node.md §2). The PSK comes from `CYNODE_NODE_REGISTRATION_PSK` or the file
 * named by `CYNODE_NODE_REGISTRATION_PSK_FILE` and stays `Redacted`. The Worker API part is the worker's own
 * reading (`src/worker-api/Settings.ts`), so both programs agree on names and defaults.
 */

export type InferenceModeSetting = typeof InferenceMode.Type

export interface NodeSettings {
  /** Where registration goes; every later URL comes from the bootstrap payload. */
  readonly orchestratorUrl: string
  readonly psk: Redacted.Redacted<string>
  readonly nodeSlug: string
  readonly nodeName: Option.Option<string>
  readonly nodeLabels: ReadonlyArray<string>
  /** The reported `worker_api.base_url`. */
  readonly workerPublicUrl: string
  readonly reportIntervalSeconds: number
  /** Liveness heartbeats (fractions allowed, for tests); the control plane's TTL is 3 × its own interval. */
  readonly heartbeatIntervalSeconds: number
  /** Window for retrying an unreachable or failing orchestrator (each call has its own 10 s limit). */
  readonly orchestratorWaitSeconds: number
  readonly ollamaImage: string
  readonly ollamaContainerName: string
  readonly ollamaReadyTimeoutSeconds: number
  readonly inferenceMode: InferenceModeSetting
  /** The startup check image (never pulled): the local sandbox image. */
  readonly checkImage: string
  /** `CYNODE_SANDBOX_ALLOWED_IMAGES` when set: it narrows the delivered allowlist. */
  readonly localAllowedImages: Option.Option<ReadonlyArray<string>>
  readonly worker: WorkerSettings
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

const nonEmptyOption = (name: string) =>
  Config.string(name).pipe(Config.option, Config.map(Option.filter((s) => s.trim() !== "")))

const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

const containerName = Config.string("CYNODE_OLLAMA_CONTAINER_NAME").pipe(
  Config.withDefault("cynode-ollama"),
  Config.mapOrFail((s) =>
    CONTAINER_NAME.test(s)
      ? Either.right(s)
      : Either.left(ConfigError.InvalidData([], `CYNODE_OLLAMA_CONTAINER_NAME must be a container name like cynode-ollama, got ${JSON.stringify(s)}`))
  )
)

const inferenceMode = Config.literal("allow", "disabled", "require")("CYNODE_INFERENCE_MODE").pipe(
  Config.withDefault<InferenceModeSetting>("allow")
)

/** `CYNODE_NODE_REGISTRATION_PSK`, else the content of `CYNODE_NODE_REGISTRATION_PSK_FILE` (trimmed). */
const psk = Effect.gen(function*() {
  const direct = yield* Config.option(Config.redacted("CYNODE_NODE_REGISTRATION_PSK"))
  if (Option.isSome(direct) && Redacted.value(direct.value) !== "") return direct.value
  const file = yield* Config.option(Config.string("CYNODE_NODE_REGISTRATION_PSK_FILE"))
  if (Option.isNone(file)) {
    return yield* Effect.fail(ConfigError.MissingData(
      ["CYNODE_NODE_REGISTRATION_PSK"],
      "CYNODE_NODE_REGISTRATION_PSK or CYNODE_NODE_REGISTRATION_PSK_FILE must be set"
    ))
  }
  const content = yield* Effect.tryPromise({
    try: () => readFile(file.value, "utf8"),
    catch: (e) =>
      ConfigError.InvalidData(
        ["CYNODE_NODE_REGISTRATION_PSK_FILE"],
        `CYNODE_NODE_REGISTRATION_PSK_FILE ${file.value} cannot be read: ${e instanceof Error ? e.message : String(e)}`
      )
  })
  const value = content.trim()
  if (value === "") {
    return yield* Effect.fail(ConfigError.InvalidData(["CYNODE_NODE_REGISTRATION_PSK_FILE"], `CYNODE_NODE_REGISTRATION_PSK_FILE ${file.value} is empty`))
  }
  return Redacted.make(value)
})

const rest = Config.all({
  orchestratorUrl: baseUrl("CYNODE_ORCHESTRATOR_URL").pipe(Config.withDefault("http://localhost:12082")),
  nodeName: nonEmptyOption("CYNODE_NODE_NAME"),
  nodeLabels: Config.string("CYNODE_NODE_LABELS").pipe(
    Config.withDefault(""),
    Config.map((s) => s.split(",").map((x) => x.trim()).filter((x) => x !== ""))
  ),
  workerPublicUrl: Config.option(baseUrl("CYNODE_WORKER_PUBLIC_URL")),
  reportIntervalSeconds: positiveInt("CYNODE_CAPABILITY_REPORT_INTERVAL_SECONDS", 60),
  heartbeatIntervalSeconds: Config.number("CYNODE_HEARTBEAT_INTERVAL_SECONDS").pipe(
    Config.withDefault(5),
    Config.validate({
      message: "CYNODE_HEARTBEAT_INTERVAL_SECONDS must be a number of seconds between 0.1 and 3600",
      validation: (n) => Number.isFinite(n) && n >= 0.1 && n <= 3600
    })
  ),
  orchestratorWaitSeconds: positiveInt("CYNODE_ORCHESTRATOR_WAIT_SECONDS", 90),
  ollamaImage: Config.nonEmptyString("CYNODE_OLLAMA_IMAGE").pipe(Config.withDefault("docker.io/ollama/ollama:latest")),
  ollamaContainerName: containerName,
  ollamaReadyTimeoutSeconds: positiveInt("CYNODE_OLLAMA_READY_TIMEOUT_SECONDS", 120),
  inferenceMode,
  checkImage: Config.nonEmptyString("CYNODE_SANDBOX_IMAGE").pipe(Config.withDefault(DEFAULT_SANDBOX_IMAGE)),
  allowedSet: nonEmptyOption("CYNODE_SANDBOX_ALLOWED_IMAGES")
})

/** The whole environment; a `ConfigError` names the variable that is wrong. */
export const loadNodeSettings: Effect.Effect<NodeSettings, ConfigError.ConfigError> = Effect.gen(function*() {
  const worker = yield* workerSettingsFromEnv
  const r = yield* rest
  const secret = yield* psk
  return {
    orchestratorUrl: r.orchestratorUrl,
    psk: secret,
    nodeSlug: worker.nodeSlug,
    nodeName: r.nodeName,
    nodeLabels: r.nodeLabels,
    workerPublicUrl: Option.getOrElse(r.workerPublicUrl, () => `http://localhost:${worker.listen.port}`),
    reportIntervalSeconds: r.reportIntervalSeconds,
    heartbeatIntervalSeconds: r.heartbeatIntervalSeconds,
    orchestratorWaitSeconds: r.orchestratorWaitSeconds,
    ollamaImage: r.ollamaImage,
    ollamaContainerName: r.ollamaContainerName,
    ollamaReadyTimeoutSeconds: r.ollamaReadyTimeoutSeconds,
    inferenceMode: r.inferenceMode,
    checkImage: r.checkImage,
    // The worker's reading already validated the list; here we only need to know whether it was set.
    localAllowedImages: Option.map(r.allowedSet, () => worker.allowedImages),
    worker
  } satisfies NodeSettings
})
