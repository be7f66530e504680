import { Config, ConfigError, Context, Either, Option, Schema } from "effect"
import { join } from "node:path"
import { listenAddress } from "../../layers/Config.ts"
import type { ListenAddress } from "../../layers/Http.ts"
import { isIdentifier } from "../../schema/ids.ts"
import { ImageRef } from "../../schema/job.ts"
import { isHttpUrl } from "../../schema/url.ts"

/**
 * Worker API settings (worker-node.md §2, §6, §7). The node manager builds them from its environment plus the
 * delivered config (allowlist, constraints, inference address); `fromEnv` is the standalone reading.
 */

export const DEFAULT_SANDBOX_IMAGE = "localhost/cynode-sandbox:latest"

export interface WorkerSettings {
  readonly listen: ListenAddress
  readonly nodeSlug: string
  readonly mountRoot: string
  /** Images a job may name; by default exactly the configured sandbox image. */
  readonly allowedImages: ReadonlyArray<string>
  readonly timeoutDefaultSeconds: number
  /** min(CYNODE_SANDBOX_TIMEOUT_MAX_SECONDS, constraints.max_job_timeout_seconds). */
  readonly timeoutMaxSeconds: number
  readonly maxConcurrency: number
  /** `uid:gid` the sandbox process runs as. */
  readonly sandboxUser: string
  readonly memoryBytes: number
  readonly pidsLimit: number
  /** CPUs a sandbox may use (CFS quota). */
  readonly cpus: number
  /** Size of the sandbox's tmpfs `/tmp` (the root filesystem is read-only). */
  readonly tmpBytes: number
  /** Largest size of a job's workspace; a job that grows it beyond this is stopped and fails. */
  readonly workspaceBytes: number
  readonly nofile: number
  readonly nproc: number
  readonly maxOutputBytes: number
  /** min(CYNODE_WORKER_MAX_REQUEST_BYTES, constraints.max_request_bytes, 10 MiB). */
  readonly maxRequestBytes: number
  readonly retentionHours: number
  /** Base URL of the node-local inference server (`http://127.0.0.1:<port>`); absent when this node has none. */
  readonly inferenceBaseUrl: Option.Option<string>
  readonly inferenceTimeoutSeconds: number
  /** How long a shutdown lets running jobs finish before stopping them (DECISIONS.md "Node shutdown"). */
  readonly shutdownGraceSeconds: number
  /** How long a pull of a missing image may take before the job gets 422. */
  readonly pullTimeoutSeconds: number
}

export class WorkerSettingsTag extends Context.Tag("cynode/worker-api/WorkerSettings")<WorkerSettingsTag, WorkerSettings>() {}

export const MAX_REQUEST_BYTES_CEILING = 10 * 1024 * 1024

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

const fail = (message: string) => Either.left(ConfigError.InvalidData([], message))

const slug = Config.string("CYNODE_NODE_SLUG").pipe(
  Config.mapOrFail((s) => isIdentifier(s) ? Either.right(s) : fail(`CYNODE_NODE_SLUG must follow the identifier rule, got ${JSON.stringify(s)}`))
)

const isImage = Schema.is(ImageRef)

const imageList = Config.string("CYNODE_SANDBOX_ALLOWED_IMAGES").pipe(
  Config.mapOrFail((s) => {
    const images = s.split(",").map((x) => x.trim()).filter((x) => x !== "")
    const bad = images.find((x) => !isImage(x))
    return bad !== undefined
      ? fail(`CYNODE_SANDBOX_ALLOWED_IMAGES holds an invalid image reference ${JSON.stringify(bad)}`)
      : images.length === 0
      ? fail("CYNODE_SANDBOX_ALLOWED_IMAGES must name at least one image")
      : Either.right<ReadonlyArray<string>>(images)
  }),
  Config.option
)

const sandboxUser = Config.string("CYNODE_SANDBOX_USER").pipe(
  Config.withDefault("65532:65532"),
  Config.mapOrFail((s) => /^[1-9]\d{0,9}:[1-9]\d{0,9}$/.test(s) ? Either.right(s) : fail(`CYNODE_SANDBOX_USER must be a non-root uid:gid like 65532:65532, got ${JSON.stringify(s)}`))
)

const inferenceUrl = Config.string("CYNODE_INFERENCE_URL").pipe(
  Config.mapOrFail((s) => {
    if (isHttpUrl(s, ["http:"])) return Either.right(s.replace(/\/+$/, ""))
    return fail(`CYNODE_INFERENCE_URL must be an http URL such as http://127.0.0.1:11434, got ${JSON.stringify(s)}`)
  }),
  Config.option
)

/** The standalone reading of the environment (§2 names and defaults). */
export const fromEnv: Config.Config<WorkerSettings> = Config.all({
  listen: listenAddress("CYNODE_WORKER_LISTEN_ADDR").pipe(Config.withDefault({ host: "0.0.0.0", port: 12090 })),
  nodeSlug: slug,
  stateDir: Config.string("CYNODE_STATE_DIR").pipe(Config.withDefault("/var/lib/cynode/state")),
  mountRoot: Config.string("CYNODE_SANDBOX_MOUNT_ROOT").pipe(Config.option),
  sandboxImage: Config.string("CYNODE_SANDBOX_IMAGE").pipe(Config.withDefault(DEFAULT_SANDBOX_IMAGE)),
  allowed: imageList,
  timeoutDefaultSeconds: positiveInt("CYNODE_SANDBOX_TIMEOUT_DEFAULT_SECONDS", 3600),
  timeoutMaxSeconds: positiveInt("CYNODE_SANDBOX_TIMEOUT_MAX_SECONDS", 10800),
  maxConcurrency: positiveInt("CYNODE_SANDBOX_MAX_CONCURRENCY", 4),
  sandboxUser,
  memoryMb: positiveInt("CYNODE_SANDBOX_MEMORY_MB", 1024),
  pidsLimit: positiveInt("CYNODE_SANDBOX_PIDS_LIMIT", 256),
  cpus: Config.number("CYNODE_SANDBOX_CPUS").pipe(
    Config.validate({ message: "CYNODE_SANDBOX_CPUS must be a positive number", validation: (n) => n > 0 && n <= 1024 }),
    Config.withDefault(1)
  ),
  tmpMb: positiveInt("CYNODE_SANDBOX_TMP_MB", 64),
  workspaceMb: positiveInt("CYNODE_SANDBOX_WORKSPACE_MB", 1024),
  nofile: positiveInt("CYNODE_SANDBOX_NOFILE", 1024),
  maxOutputBytes: positiveInt("CYNODE_MAX_OUTPUT_BYTES", 262144),
  maxRequestBytes: positiveInt("CYNODE_WORKER_MAX_REQUEST_BYTES", MAX_REQUEST_BYTES_CEILING),
  retentionHours: positiveInt("CYNODE_WORKSPACE_RETENTION_HOURS", 24),
  inferenceBaseUrl: inferenceUrl,
  inferenceTimeoutSeconds: positiveInt("CYNODE_INFERENCE_TIMEOUT_SECONDS", 120),
  shutdownGraceSeconds: positiveInt("CYNODE_SHUTDOWN_GRACE_SECONDS", 30)
}).pipe(
  Config.map((c): WorkerSettings => ({
    listen: c.listen,
    nodeSlug: c.nodeSlug,
    mountRoot: Option.getOrElse(c.mountRoot, () => join(c.stateDir, "sandbox_mounts")),
    allowedImages: Option.getOrElse(c.allowed, () => [c.sandboxImage]),
    timeoutDefaultSeconds: Math.min(c.timeoutDefaultSeconds, c.timeoutMaxSeconds),
    timeoutMaxSeconds: c.timeoutMaxSeconds,
    maxConcurrency: c.maxConcurrency,
    sandboxUser: c.sandboxUser,
    memoryBytes: c.memoryMb * 1024 * 1024,
    pidsLimit: c.pidsLimit,
    cpus: c.cpus,
    tmpBytes: c.tmpMb * 1024 * 1024,
    workspaceBytes: c.workspaceMb * 1024 * 1024,
    nofile: c.nofile,
    nproc: 1024,
    maxOutputBytes: c.maxOutputBytes,
    maxRequestBytes: Math.min(c.maxRequestBytes, MAX_REQUEST_BYTES_CEILING),
    // The spec's floor: records are kept at least 24 h, whatever the setting says.
    retentionHours: Math.max(c.retentionHours, 24),
    inferenceBaseUrl: c.inferenceBaseUrl,
    inferenceTimeoutSeconds: c.inferenceTimeoutSeconds,
    shutdownGraceSeconds: c.shutdownGraceSeconds,
    pullTimeoutSeconds: 120
  }))
)

/** Applies the delivered config's `constraints` (they can only tighten the local limits). */
export const withConstraints = (
  settings: WorkerSettings,
  constraints: { readonly max_request_bytes?: number; readonly max_job_timeout_seconds?: number }
): WorkerSettings => {
  const timeoutMax = Math.min(settings.timeoutMaxSeconds, constraints.max_job_timeout_seconds ?? Infinity)
  return {
    ...settings,
    maxRequestBytes: Math.min(settings.maxRequestBytes, constraints.max_request_bytes ?? Infinity),
    timeoutMaxSeconds: timeoutMax,
    timeoutDefaultSeconds: Math.min(settings.timeoutDefaultSeconds, timeoutMax)
  }
}
