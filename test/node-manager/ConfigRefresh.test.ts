import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option, Redacted, Ref } from "effect"
import { changesBeyondToken, makeConfigRefresher } from "../../src/node-manager/ConfigRefresh.ts"
import { validateConfig } from "../../src/node-manager/NodeConfig.ts"
import { issuedVersionOf, OrchestratorUnreachable } from "../../src/node-manager/OrchestratorClient.ts"
import type { WorkerToken } from "../../src/worker-api/Auth.ts"

/** A running node following the config version its heartbeats name (a worker token re-issued after a rotation). */

const payload = (configVersion: string, token: string, patch: Record<string, unknown> = {}) => ({
  version: 1,
  config_version: configVersion,
  node_slug: "node-01",
  policy: { sandbox: { allowed_images: ["localhost/cynode-sandbox:latest"] } },
  worker_api: { orchestrator_bearer_token: token },
  constraints: { max_job_timeout_seconds: 600 },
  ...patch
})

const configOf = (raw: unknown) => Either.getOrThrow(validateConfig(raw, "node-01"))

const bytes = (text: string) => new TextEncoder().encode(text).buffer as ArrayBuffer

/** A client whose config fetch answers `served` (or fails while it is undefined), recording the acks. */
const fakeNode = (initial: unknown) =>
  Effect.gen(function*() {
    const served = yield* Ref.make<unknown>(undefined)
    const acks = yield* Ref.make<ReadonlyArray<Record<string, unknown>>>([])
    const tokens = yield* Ref.make<ReadonlyArray<WorkerToken>>([])
    const refresher = yield* makeConfigRefresher({
      nodeSlug: "node-01",
      applied: configOf(initial),
      client: {
        fetchConfig: Effect.flatMap(Ref.get(served), (raw) =>
          raw === undefined
            ? Effect.fail(new OrchestratorUnreachable({ operation: "fetch config", url: "node_config_url", reason: "down" }))
            : Effect.succeed(raw)),
        ack: (body) => Ref.update(acks, (all) => [...all, body as Record<string, unknown>])
      },
      worker: { setToken: (token) => Ref.update(tokens, (all) => [...all, token]) }
    })
    const beat = (issued: string) =>
      Effect.flatMap(refresher.onIssued(issued), Option.match({ onNone: () => Effect.void, onSome: Fiber.join }))
    return { refresher, served, acks, tokens, beat }
  })

describe("issuedVersionOf", () => {
  it("reads the issued version from a heartbeat's answer, and nothing from anything else", () => {
    expect(issuedVersionOf(bytes(`{"config_version":"v2"}`))).toEqual(Option.some("v2"))
    expect(issuedVersionOf(bytes(`{"config_version":null}`))).toEqual(Option.none())
    expect(issuedVersionOf(bytes(`{"config_version":""}`))).toEqual(Option.none())
    expect(issuedVersionOf(bytes(`{"other":1}`))).toEqual(Option.none())
    expect(issuedVersionOf(bytes("not json"))).toEqual(Option.none())
    expect(issuedVersionOf(new ArrayBuffer(0))).toEqual(Option.none())
  })
})

describe("changesBeyondToken", () => {
  it("ignores the version and the token, and names what else changed", () => {
    const running = configOf(payload("v1", "old"))
    expect(changesBeyondToken(running, configOf(payload("v2", "new")))).toEqual([])
    expect(changesBeyondToken(running, configOf(payload("v2", "new", { policy: { sandbox: { allowed_images: ["x"] } } }))))
      .toEqual(["policy.sandbox.allowed_images"])
    expect(changesBeyondToken(running, configOf(payload("v2", "new", { inference_backend: { enabled: true } }))))
      .toEqual(["inference_backend"])
    expect(changesBeyondToken(running, configOf(payload("v2", "new", { constraints: {} })))).toEqual(["constraints"])
  })
})

describe("makeConfigRefresher", () => {
  it.effect("does nothing while the heartbeat names the applied version", () =>
    Effect.gen(function*() {
      const node = yield* fakeNode(payload("v1", "old"))
      yield* node.beat("v1")
      expect(yield* Ref.get(node.acks)).toEqual([])
      expect(yield* Ref.get(node.tokens)).toEqual([])
    }))

  it.effect("a new version with a new token: the worker gets the token, the version is acked applied", () =>
    Effect.gen(function*() {
      const node = yield* fakeNode(payload("v1", "old"))
      yield* Ref.set(node.served, payload("v2", "new"))
      yield* node.beat("v2")
      expect((yield* Ref.get(node.tokens)).map((t) => Redacted.value(t.token))).toEqual(["new"])
      expect(yield* Ref.get(node.acks)).toMatchObject([{ node_slug: "node-01", config_version: "v2", status: "applied" }])
      expect((yield* node.refresher.applied).configVersion).toBe("v2")
      // Applied: the next beats naming v2 change nothing.
      yield* node.beat("v2")
      expect(yield* Ref.get(node.acks)).toHaveLength(1)
    }))

  it.effect("a failed fetch is tried again at the next heartbeat", () =>
    Effect.gen(function*() {
      const node = yield* fakeNode(payload("v1", "old"))
      yield* node.beat("v2")
      expect(yield* Ref.get(node.acks)).toEqual([])
      yield* Ref.set(node.served, payload("v2", "new"))
      yield* node.beat("v2")
      expect(yield* Ref.get(node.acks)).toMatchObject([{ config_version: "v2", status: "applied" }])
    }))

  it.effect("a version that changes more than the token: the token is taken, the rest is acked restart_required once", () =>
    Effect.gen(function*() {
      const node = yield* fakeNode(payload("v1", "old"))
      yield* Ref.set(node.served, payload("v2", "new", { constraints: { max_job_timeout_seconds: 60 } }))
      yield* node.beat("v2")
      yield* node.beat("v2")
      expect((yield* Ref.get(node.tokens)).map((t) => Redacted.value(t.token))).toEqual(["new"])
      expect(yield* Ref.get(node.acks)).toMatchObject([
        { config_version: "v2", status: "failed", error: { type: "restart_required" } }
      ])
      expect((yield* node.refresher.applied).configVersion).toBe("v1")
    }))

  it.effect("an invalid config is acked failed and the running config stays", () =>
    Effect.gen(function*() {
      const node = yield* fakeNode(payload("v1", "old"))
      yield* Ref.set(node.served, payload("v2", "new", { node_slug: "someone-else" }))
      yield* node.beat("v2")
      expect(yield* Ref.get(node.tokens)).toEqual([])
      expect(yield* Ref.get(node.acks)).toMatchObject([{ config_version: "v2", status: "failed", error: { type: "config_invalid" } }])
      expect((yield* node.refresher.applied).configVersion).toBe("v1")
    }))
})
