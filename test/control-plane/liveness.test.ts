import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { JobsRepo } from "../../src/control-plane/JobsRepo.ts"
import { LivenessRepo, LivenessSettings, sweepOnce } from "../../src/control-plane/Liveness.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { Readiness } from "../../src/control-plane/Readiness.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** Node liveness on a real PostgreSQL: active → lost after the TTL, back on a heartbeat, stranded jobs, drain. */

const tokens = WorkerTokens.fromKey(new Uint8Array(randomBytes(32)))
const settings = { heartbeatIntervalMs: 1_000, ttlMs: 3_000, lostGraceMs: 5_000, sweepMs: 500 }
const TestLayer = Layer.mergeAll(JobsRepo.Live, LivenessRepo.Live, Readiness.Live, Layer.succeed(LivenessSettings, settings)).pipe(
  Layer.provideMerge(Layer.mergeAll(TestDatabase.layer, Layer.succeed(WorkerTokens, tokens)))
)

const reset = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`TRUNCATE jobs, tasks, node_capabilities, nodes, users CASCADE`)

/** A dispatchable node, last seen `agoSeconds` ago. */
const addNode = (slug: string, agoSeconds: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [node] = yield* sql<{ id: string }>`
      INSERT INTO nodes (node_slug, status, config_version, issued_config_version, issued_inference, config_ack_status,
        worker_api_target_url, worker_api_bearer_token, last_seen_at)
      VALUES (${slug}, 'active', 'v1', 'v1', true, 'applied', ${`http://${slug}.test:12090`},
        ${tokens.encrypt(Redacted.make(`token-${slug}`))}, now() - make_interval(secs => ${agoSeconds}))
      RETURNING id::text AS id`
    return node!.id
  })

/** A task with one job running on `nodeId` under lease `leaseId`. */
const addRunningJob = (nodeId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [user] = yield* sql<{ id: string }>`
      INSERT INTO users (handle) VALUES (${`u-${randomBytes(4).toString("hex")}`}) RETURNING id::text AS id`
    const [task] = yield* sql<{ id: string }>`
      INSERT INTO tasks (created_by, prompt, summary, status) VALUES (${user!.id}, 'p', 't', 'running') RETURNING id::text AS id`
    const [job] = yield* sql<{ id: string; lease_id: string }>`
      INSERT INTO jobs (task_id, payload, status, node_id, started_at, lease_id, lease_expires_at)
      VALUES (${task!.id}, '{"command":["true"]}'::jsonb, 'running', ${nodeId}, now(), gen_random_uuid(), now() + interval '1 hour')
      RETURNING id::text AS id, lease_id::text AS lease_id`
    return job!
  })

const nodeState = (slug: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ status: string; admin_state: string; lost: boolean }>`
      SELECT status, admin_state, lost_at IS NOT NULL AS lost FROM nodes WHERE node_slug = ${slug}`).pipe(
    Effect.map((rows) => rows[0]!)
  )

it.layer(TestLayer, { timeout: 60_000 })("Liveness", (it) => {
  describe("the sweep", () => {
    it.effect("marks a silent node lost, keeps a fresh one, and a heartbeat brings the lost one back", () =>
      Effect.gen(function*() {
        yield* reset
        const repo = yield* LivenessRepo
        const readiness = yield* Readiness
        const silent = yield* addNode("node-silent", 10)
        yield* addNode("node-fresh", 0)
        yield* sweepOnce
        expect(yield* nodeState("node-silent")).toMatchObject({ status: "lost", lost: true })
        expect(yield* nodeState("node-fresh")).toMatchObject({ status: "active", lost: false })
        expect((yield* readiness.dispatchableNodes).map((n) => n.node_slug)).toEqual(["node-fresh"])

        expect(Option.map(yield* repo.heartbeat(silent), (b) => b.was)).toEqual(Option.some("lost"))
        expect(yield* nodeState("node-silent")).toMatchObject({ status: "active", lost: false })
        expect(Option.map(yield* repo.heartbeat(silent), (b) => b.was)).toEqual(Option.some("active"))
        expect((yield* readiness.dispatchableNodes).map((n) => n.node_slug)).toEqual(["node-fresh", "node-silent"])
      }))

    it.effect("readiness is false with only lost nodes, and says which node and since when", () =>
      Effect.gen(function*() {
        yield* reset
        const readiness = yield* Readiness
        yield* addNode("node-gone", 10)
        expect((yield* readiness.check).ready).toBe(true)
        yield* sweepOnce
        const check = yield* readiness.check
        expect(check.ready).toBe(false)
        expect(check.reason).toMatch(/^no inference path: node-gone is lost \(no heartbeat since \d{4}-/)
      }))

    it.effect("fails a job stranded on a node lost for longer than the grace with node_lost, not before", () =>
      Effect.gen(function*() {
        yield* reset
        const sql = yield* SqlClient.SqlClient
        const node = yield* addNode("node-dead", 10)
        const job = yield* addRunningJob(node)
        yield* sweepOnce
        // Lost, but within the grace: the job is left to its dispatcher (the node may come back with the result).
        const [within] = yield* sql<{ status: string }>`SELECT status FROM jobs WHERE id = ${job.id}`
        expect(within!.status).toBe("running")
        yield* sql`UPDATE nodes SET lost_at = now() - interval '6 seconds' WHERE id = ${node}`
        yield* sweepOnce
        const [after] = yield* sql<{ status: string; result: { error_type: string; error: string }; task_status: string }>`
          SELECT j.status, j.result, t.status AS task_status FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE j.id = ${job.id}`
        expect(after).toMatchObject({ status: "failed", task_status: "failed", result: { error_type: "node_lost" } })
        expect(after!.result.error).toContain("node-dead")
        // The dispatcher that held the lease can no longer write.
        const late = yield* (yield* JobsRepo).finish({ id: job.id, leaseId: job.lease_id }, { status: "completed" }, "completed")
        expect(late).toBe("lost")
      }))

    it.effect("a draining node becomes drained once nothing runs there", () =>
      Effect.gen(function*() {
        yield* reset
        const sql = yield* SqlClient.SqlClient
        const node = yield* addNode("node-drain", 0)
        const job = yield* addRunningJob(node)
        yield* sql`UPDATE nodes SET admin_state = 'draining' WHERE id = ${node}`
        yield* sweepOnce
        expect((yield* nodeState("node-drain")).admin_state).toBe("draining")
        yield* (yield* JobsRepo).finish({ id: job.id, leaseId: job.lease_id }, { status: "completed" }, "completed")
        yield* sweepOnce
        expect((yield* nodeState("node-drain")).admin_state).toBe("drained")
      }))
  })
})
