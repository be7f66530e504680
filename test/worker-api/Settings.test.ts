import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Option } from "effect"
import { fromEnv, withConstraints } from "../../src/worker-api/Settings.ts"

const read = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(fromEnv, ConfigProvider.fromMap(new Map(Object.entries(env))))))

describe("worker settings", () => {
  it("has the documented defaults", () => {
    const settings = Either.getOrThrow(read({ CYNODE_NODE_SLUG: "node-01" }))
    expect(settings).toMatchObject({
      listen: { host: "0.0.0.0", port: 12090 },
      mountRoot: "/var/lib/cynode/state/sandbox_mounts",
      allowedImages: ["localhost/cynode-sandbox:latest"],
      timeoutDefaultSeconds: 3600,
      timeoutMaxSeconds: 10800,
      maxConcurrency: 4,
      sandboxUser: "65532:65532",
      memoryBytes: 1024 * 1024 * 1024,
      pidsLimit: 256,
      cpus: 1,
      tmpBytes: 64 * 1024 * 1024,
      workspaceBytes: 1024 * 1024 * 1024,
      nofile: 1024,
      maxOutputBytes: 262144,
      maxRequestBytes: 10485760,
      retentionHours: 24,
      inferenceTimeoutSeconds: 120
    })
    expect(Option.isNone(settings.inferenceBaseUrl)).toBe(true)
  })

  it("refuses bad values and names the variable", () => {
    for (const [name, value] of [
      ["CYNODE_NODE_SLUG", "../x"],
      ["CYNODE_SANDBOX_USER", "0:0"],
      ["CYNODE_SANDBOX_ALLOWED_IMAGES", "-v=/:/host"],
      ["CYNODE_SANDBOX_MAX_CONCURRENCY", "0"],
      ["CYNODE_INFERENCE_URL", "ftp://x"]
    ] as const) {
      const result = read({ CYNODE_NODE_SLUG: "node-01", [name]: value })
      expect(Either.isLeft(result) && String(result.left).includes(name), `${name}=${value}`).toBe(true)
    }
  })

  it("lets the delivered constraints only tighten the limits", () => {
    const settings = Either.getOrThrow(read({ CYNODE_NODE_SLUG: "node-01" }))
    expect(withConstraints(settings, { max_request_bytes: 1024, max_job_timeout_seconds: 600 })).toMatchObject({
      maxRequestBytes: 1024,
      timeoutMaxSeconds: 600,
      timeoutDefaultSeconds: 600
    })
    expect(withConstraints(settings, { max_request_bytes: 99_999_999 })).toMatchObject({ maxRequestBytes: 10485760 })
  })
})
