import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { Readiness } from "../../src/control-plane/Readiness.ts"
import { NodesRepo } from "../../src/control-plane/NodesRepo.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** The one definition of "dispatchable" and readiness (control-plane.md §3, §8), against real PostgreSQL rows. */

const tokens = WorkerTokens.fromKey(randomBytes(32))
const Deps = Layer.mergeAll(Readiness.Live, Layer.succeed(WorkerTokens, tokens))
const TestLayer = NodesRepo.Default.pipe(Layer.provideMerge(Deps), Layer.provideMerge(TestDatabase.layer))

const VERSION = "01JMBX3Q0N6Z8K2V5T7W9Y1A3C"

interface NodeFixture {
  readonly slug: string
  readonly status?: string
  readonly ack?: "applied" | "failed" | null
  readonly acked?: string | null
  readonly url?: string
  readonly inference?: boolean
  readonly snapshot?: unknown
}

const insertNode = (n: NodeFixture) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const token = tokens.encrypt(Redacted.make(`token-${n.slug}`))
    const [row] = yield* sql<{ id: string }>`
      INSERT INTO nodes (node_slug, status, config_ack_status, config_ack_error, config_version, issued_config_version,
        issued_inference, worker_api_target_url, worker_api_bearer_token)
      VALUES (${n.slug}, ${n.status ?? "active"}, ${n.ack === undefined ? "applied" : n.ack},
        ${n.ack === "failed" ? "inference_start_failed: boom" : null},
        ${n.acked === undefined ? VERSION : n.acked}, ${VERSION}, ${n.inference ?? true},
        ${n.url ?? `http://${n.slug}:12090`}, ${token})
      RETURNING id::text AS id`
    if (n.snapshot !== undefined) {
      yield* sql`INSERT INTO node_capabilities (node_id, capability_snapshot)
        VALUES (${row?.id ?? ""}, ${JSON.stringify(n.snapshot)}::jsonb)`
    }
  }).pipe(Effect.orDie)

const reset = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`TRUNCATE nodes CASCADE`).pipe(Effect.orDie)

const check = Effect.flatMap(Readiness, (r) => r.check)

describe("Readiness", () => {
  it.layer(TestLayer, { timeout: 60_000 })((it) => {
    it.effect("is ready only with a dispatchable node that is an inference path", () =>
      Effect.gen(function*() {
        yield* reset
        expect(yield* check).toEqual({ ready: false, reason: "no inference path: no node registered" })

        yield* insertNode({ slug: "a-failed", ack: "failed", acked: null })
        yield* insertNode({ slug: "b-stale", acked: "01AAAAAAAAAAAAAAAAAAAAAAAA" })
        yield* insertNode({ slug: "c-nourl", url: "" })
        yield* insertNode({ slug: "d-inactive", status: "inactive" })
        yield* insertNode({ slug: "e-noinference", inference: false })
        const notReady = yield* check
        expect(notReady.ready).toBe(false)
        expect(notReady.reason).toBe(
          "no inference path: a-failed config ack failed: inference_start_failed: boom; " +
            `b-stale has not acknowledged config ${VERSION}; c-nourl reported no worker_api.base_url; ` +
            "d-inactive is inactive; e-noinference has no inference backend"
        )
        const dispatchable = yield* Effect.flatMap(Readiness, (r) => r.dispatchableNodes)
        expect(dispatchable.map((n) => [n.node_slug, n.inference_path])).toEqual([["e-noinference", false]])

        yield* insertNode({
          slug: "f-existing",
          inference: false,
          snapshot: { inference: { existing_service: true, running: true }, sandbox: { max_concurrency: 3 } }
        })
        expect(yield* check).toEqual({ ready: true, reason: "ready" })
      }))

    it.effect("hands the dispatcher each dispatchable node's URL and decrypted token", () =>
      Effect.gen(function*() {
        yield* reset
        yield* insertNode({ slug: "n1", snapshot: { sandbox: { max_concurrency: 3 } } })
        yield* insertNode({ slug: "n2", ack: "failed", acked: null })
        const targets = yield* Effect.flatMap(NodesRepo, (repo) => repo.dispatchTargets)
        expect(targets).toHaveLength(1)
        expect(targets[0]).toMatchObject({ node_slug: "n1", worker_api_target_url: "http://n1:12090", inference_path: true, max_concurrency: 3 })
        expect(targets.map((t) => Redacted.value(t.worker_api_bearer_token))).toEqual(["token-n1"])
      }))
  })
})
