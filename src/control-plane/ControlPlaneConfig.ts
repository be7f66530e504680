import { Config, Context, Layer, Option, type Redacted } from "effect"
import { baseUrl, goDuration, listenAddress, secret } from "../../layers/Config.ts"
import type { ListenAddress } from "../../layers/Http.ts"

/** The control plane's environment (control-plane.md §2). Secrets stay Redacted. */
export interface ControlPlaneSettings {
  readonly listen: ListenAddress
  /** Base of every URL handed to nodes, without a trailing slash. */
  readonly publicUrl: string
  readonly registrationPsk: Redacted.Redacted<string>
  readonly nodeJwtTtlMs: number
  readonly inferenceModel: string
  /** `INFERENCE_PORT`: the node-local inference port sent as `inference_backend.port` (tests run nodes side by side). */
  readonly inferencePort: number
  readonly sandboxImage: string
  readonly maxJobTimeoutSeconds: number
  readonly inferenceImages: {
    readonly cpu: Option.Option<string>
    readonly cuda: Option.Option<string>
    readonly rocm: Option.Option<string>
  }
}

const listen = Config.option(listenAddress("CONTROL_PLANE_LISTEN_ADDR")).pipe(
  Config.zipWith(Config.option(listenAddress("LISTEN_ADDR")), (cp, generic) =>
    Option.getOrElse(Option.orElse(cp, () => generic), () => ({ host: "0.0.0.0", port: 12082 })))
)

export const settingsConfig: Config.Config<ControlPlaneSettings> = Config.all({
  listen,
  publicUrl: baseUrl("ORCHESTRATOR_PUBLIC_URL").pipe(Config.withDefault("http://localhost:12082")),
  registrationPsk: secret("NODE_REGISTRATION_PSK", 16),
  nodeJwtTtlMs: goDuration("JWT_NODE_DURATION").pipe(Config.withDefault(24 * 3_600_000)),
  inferenceModel: Config.nonEmptyString("INFERENCE_MODEL").pipe(Config.withDefault("qwen3.5:0.8b")),
  inferencePort: Config.integer("INFERENCE_PORT").pipe(
    Config.validate({ message: "INFERENCE_PORT must be a port number (1-65535)", validation: (n) => n >= 1 && n <= 65535 }),
    Config.withDefault(11434)
  ),
  sandboxImage: Config.nonEmptyString("SANDBOX_IMAGE").pipe(Config.withDefault("localhost/cynode-sandbox:latest")),
  maxJobTimeoutSeconds: Config.integer("MAX_JOB_TIMEOUT_SECONDS").pipe(
    Config.validate({ message: "MAX_JOB_TIMEOUT_SECONDS must be a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(3600)
  ),
  inferenceImages: Config.all({
    cpu: Config.option(Config.nonEmptyString("INFERENCE_IMAGE_CPU")),
    cuda: Config.option(Config.nonEmptyString("INFERENCE_IMAGE_CUDA")),
    rocm: Config.option(Config.nonEmptyString("INFERENCE_IMAGE_ROCM"))
  })
})

export class ControlPlaneConfig extends Context.Tag("cynode/ControlPlaneConfig")<ControlPlaneConfig, ControlPlaneSettings>() {
  static readonly Live = Layer.effect(ControlPlaneConfig, settingsConfig)
}
