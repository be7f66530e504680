import { describe, expect, it } from "@effect/vitest"
import { Cause, Either, Exit, FiberId, Option, Redacted } from "effect"
import { validateConfig } from "../../src/node-manager/NodeConfig.ts"
import { exitCodeOfExit } from "../../layers/ExitCode.ts"
import { InferenceFailed, shutdownExitCode, workerSettingsFor, type ShutdownStatus } from "../../src/node-manager/Startup.ts"
import type { NodeSettings } from "../../src/node-manager/NodeSettings.ts"

/** Step 5 of the startup (worker-node.md §3): what the node accepts from node_configuration_payload_v1. */

const payload = (patch: Record<string, unknown> = {}) => ({
  version: 1,
  config_version: "01JMBX3Q0N6Z8K2V5T7W9Y1A3C",
  issued_at: "2026-02-19T12:00:01Z",
  node_slug: "node-01",
  orchestrator: { base_url: "http://cp:12082", endpoints: { worker_api_target_url: "", node_report_url: "http://cp/r" } },
  model_cache: { cache_url: "" },
  policy: { sandbox: { default_network_policy: "restricted", allowed_images: ["localhost/cynode-sandbox:latest"] }, updates: { enable_dynamic_config: false } },
  worker_api: { orchestrator_bearer_token: "tok-123" },
  inference_backend: { enabled: true, variant: "cpu", port: 11500, selected_model: "standin:latest", image: "localhost/x:1" },
  constraints: { max_job_timeout_seconds: 600 },
  a_future_field: { anything: true },
  ...patch
})

const rejected = (raw: unknown) => {
  const result = validateConfig(raw, "node-01")
  if (Either.isRight(result)) throw new Error("expected a rejection")
  return result.left
}

describe("validateConfig", () => {
  it("reads the keys the node uses and ignores the rest", () => {
    const config = Either.getOrThrow(validateConfig(payload(), "node-01"))
    expect(config.configVersion).toBe("01JMBX3Q0N6Z8K2V5T7W9Y1A3C")
    expect(Redacted.value(config.token)).toBe("tok-123")
    expect(config.inference).toEqual(Option.some({ image: Option.some("localhost/x:1"), port: 11500, env: {}, variant: "cpu" }))
    expect(config.constraints).toEqual({ max_job_timeout_seconds: 600 })
    expect(config.allowedImages).toEqual(Option.some(["localhost/cynode-sandbox:latest"]))
  })

  it("starts no inference when inference_backend is absent or disabled; the default port is 11434", () => {
    const { inference_backend: _, ...without } = payload()
    expect(Either.getOrThrow(validateConfig(without, "node-01")).inference).toEqual(Option.none())
    expect(Either.getOrThrow(validateConfig(payload({ inference_backend: { enabled: false } }), "node-01")).inference)
      .toEqual(Option.none())
    const defaults = Either.getOrThrow(validateConfig(payload({ inference_backend: { enabled: true, image: "" } }), "node-01"))
    expect(defaults.inference).toEqual(Option.some({ image: Option.none(), port: 11434, env: {}, variant: "cpu" }))
  })

  it("answers another version with unsupported_payload_version, keeping the config_version for the ack", () => {
    const e = rejected(payload({ version: 2 }))
    expect(e.type).toBe("unsupported_payload_version")
    expect(e.configVersion).toEqual(Option.some("01JMBX3Q0N6Z8K2V5T7W9Y1A3C"))
  })

  it("refuses another node's slug, a missing token or config_version, bad env keys as config_invalid", () => {
    expect(rejected(payload({ node_slug: "node-02" })).type).toBe("config_invalid")
    expect(rejected(payload({ worker_api: { orchestrator_bearer_token: "" } })).type).toBe("config_invalid")
    const noVersion = rejected(payload({ config_version: "" }))
    expect(noVersion.type).toBe("config_invalid")
    expect(noVersion.configVersion).toEqual(Option.none())
    expect(rejected(payload({ inference_backend: { enabled: true, env: { "BAD-KEY": "x" } } })).reason).toContain("BAD-KEY")
    expect(rejected(payload({ inference_backend: { enabled: true, port: 70000 } })).type).toBe("config_invalid")
  })
})

describe("workerSettingsFor", () => {
  const settings = {
    checkImage: "localhost/cynode-sandbox:latest",
    localAllowedImages: Option.none(),
    worker: {
      allowedImages: ["localhost/cynode-sandbox:latest"],
      maxRequestBytes: 10_485_760,
      timeoutMaxSeconds: 10_800,
      timeoutDefaultSeconds: 3600,
      inferenceBaseUrl: Option.none()
    }
  } as unknown as NodeSettings
  const config = Either.getOrThrow(validateConfig(payload(), "node-01"))

  it("takes the delivered allowlist, the private inference address and the tighter constraints", () => {
    const w = workerSettingsFor(settings, config)
    expect(w.allowedImages).toEqual(["localhost/cynode-sandbox:latest"])
    expect(w.inferenceBaseUrl).toEqual(Option.some("http://127.0.0.1:11500"))
    expect(w.timeoutMaxSeconds).toBe(600)
    expect(w.timeoutDefaultSeconds).toBe(600)
  })

  it("lets CYNODE_SANDBOX_ALLOWED_IMAGES narrow the allowlist but never widen it", () => {
    const local = { ...settings, localAllowedImages: Option.some(["localhost/other:1", "localhost/cynode-sandbox:latest"]) }
    expect(workerSettingsFor(local, config).allowedImages).toEqual(["localhost/cynode-sandbox:latest"])
  })
})

describe("the node manager's exit code", () => {
  const status = (containersLeft: boolean): ShutdownStatus => ({ containersLeft })
  const exitCodeFor = (exit: Exit.Exit<unknown, unknown>, s: ShutdownStatus) => exitCodeOfExit(exit, shutdownExitCode(s))
  it("maps a failed step to its documented code, a clean stop to 0, and containers left to 6", () => {
    expect(exitCodeFor(Exit.fail(new InferenceFailed({ reason: "r", check: "c", type: "inference_start_failed" })), status(false))).toBe(5)
    expect(exitCodeFor(Exit.failCause(Cause.interrupt(FiberId.none)), status(false))).toBe(0)
    expect(exitCodeFor(Exit.failCause(Cause.interrupt(FiberId.none)), status(true))).toBe(6)
    expect(exitCodeFor(Exit.die(new Error("bug")), status(false))).toBe(1)
  })
})
