import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { failure } from "../../schema/result.ts"
import { JobsRepo, type ClaimOptions } from "../../src/control-plane/JobsRepo.ts"
import { runBody } from "../../src/control-plane/WorkerRequest.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** JobsRepo on a real PostgreSQL: claims, leases and the guarded writes of control-plane.md §9. */

const tokens = WorkerTokens.fromKey(new Uint8Array(randomBytes(32)))
const TestLayer = JobsRepo.Live.pipe(
  Layer.provideMerge(Layer.mergeAll(TestDatabase.layer, Layer.succeed(WorkerTokens, tokens)))
)

const options = (overrides: Partial<ClaimOptions> = {}): ClaimOptions => ({
  limit: 64,
  nodeMaxInflight: 4,
  leaseTtlMs: 15_000,
  sandboxImage: "localhost/cynode-sandbox:latest",
  inferenceModel: "standin:latest",
  cooling: new Map(),
  ...overrides
})

interface NodeSpec {
  readonly slug: string
  readonly maxConcurrency?: number
  readonly inference?: boolean
  readonly acked?: boolean
}

const reset = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`TRUNCATE jobs, tasks, node_capabilities, nodes, users CASCADE`)

const addNode = (spec: NodeSpec) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [node] = yield* sql<{ id: string }>`
      INSERT INTO nodes (node_slug, status, config_version, issued_config_version, issued_inference, config_ack_status,
        worker_api_target_url, worker_api_bearer_token)
      VALUES (${spec.slug}, 'active', ${spec.acked === false ? null : "v2"}, 'v2', ${spec.inference ?? true}, 'applied',
        ${`http://${spec.slug}.test:12090/`}, ${tokens.encrypt(Redacted.make(`token-${spec.slug}`))})
      RETURNING id::text AS id`
    if (spec.maxConcurrency !== undefined) {
      yield* sql`INSERT INTO node_capabilities (node_id, capability_snapshot)
        VALUES (${node!.id}, ${JSON.stringify({ sandbox: { max_concurrency: spec.maxConcurrency } })}::jsonb)`
    }
    return node!.id
  })

const addJobs = (payloads: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [user] = yield* sql<{ id: string }>`
      INSERT INTO users (handle) VALUES (${`u-${randomBytes(4).toString("hex")}`}) RETURNING id::text AS id`
    const ids: Array<string> = []
    for (const [i, payload] of payloads.entries()) {
      const [task] = yield* sql<{ id: string }>`
        INSERT INTO tasks (created_by, prompt, summary) VALUES (${user!.id}, 'p', ${`t-${i}`}) RETURNING id::text AS id`
      const [job] = yield* sql<{ id: string }>`
        INSERT INTO jobs (task_id, payload, created_at)
        VALUES (${task!.id}, ${JSON.stringify(payload)}::jsonb, now() + make_interval(secs => ${i / 1000}))
        RETURNING id::text AS id`
      ids.push(job!.id)
    }
    return ids
  })

const rowOf = (jobId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ status: string; node_id: string | null; attempts: number; result: Record<string, unknown> | null; task_status: string; summary: string | null; ended: boolean; not_before: Date | null }>`
      SELECT j.status, j.node_id::text AS node_id, j.attempts, j.result, t.status AS task_status,
        t.metadata ->> 'result_summary' AS summary, j.ended_at IS NOT NULL AS ended, j.not_before
      FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE j.id = ${jobId}`).pipe(Effect.map((rows) => rows[0]!))

const sandbox = { command: ["echo", "hi"] }

it.layer(TestLayer, { timeout: 120_000 })("JobsRepo", (it) => {
  it.effect("claims up to min(reported max_concurrency, DISPATCH_NODE_MAX_INFLIGHT) per node, most free slots first", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const a = yield* addNode({ slug: "node-a", maxConcurrency: 1 })
      const b = yield* addNode({ slug: "node-b" })
      yield* addNode({ slug: "node-late", acked: false })
      const ids = yield* addJobs(Array.from({ length: 8 }, () => sandbox))
      const first = yield* repo.claim(options({ nodeMaxInflight: 3 }))
      expect(first.claimed.map((j) => j.id)).toEqual(ids.slice(0, 4))
      expect(first.claimed.filter((j) => j.node.id === a)).toHaveLength(1)
      expect(first.claimed.filter((j) => j.node.id === b)).toHaveLength(3)
      // node-b has 3 free slots, node-a 1: b takes the first two, then they alternate by free slots and slug.
      expect(first.claimed.map((j) => j.node.nodeSlug)).toEqual(["node-b", "node-b", "node-a", "node-b"])
      const onA = first.claimed.find((j) => j.node.id === a)!
      expect(onA.node.url).toBe("http://node-a.test:12090")
      expect(Redacted.value(onA.node.token)).toBe("token-node-a")
      expect(first.claimed[0]!.payload).toEqual({ _tag: "sandbox", sandbox: { image: "localhost/cynode-sandbox:latest", command: ["echo", "hi"] } })
      // Every slot is taken: nothing more until a job ends.
      expect((yield* repo.claim(options({ nodeMaxInflight: 3 }))).claimed).toHaveLength(0)
      const row = yield* rowOf(ids[0]!)
      expect(row).toMatchObject({ status: "running", task_status: "running" })
      const stored = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ payload: unknown }>`SELECT payload FROM jobs WHERE id = ${ids[0]!}`)
      expect(stored[0]!.payload).toEqual({ image: "localhost/cynode-sandbox:latest", command: ["echo", "hi"] })
      yield* repo.finish(first.claimed[0]!, { version: 1, status: "completed", stdout: "hi\n", stderr: "" }, "completed")
      const next = yield* repo.claim(options({ nodeMaxInflight: 3 }))
      expect(next.claimed.map((j) => [j.id, j.node.id])).toEqual([[ids[4], b]])
    }))

  it.effect("sends inference jobs only to inference paths, and fails invalid payloads at the claim", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      yield* addNode({ slug: "sandbox-only", inference: false })
      const [inference, bad, plain] = yield* addJobs([{ inference: { prompt: "hi" } }, { nothing: true }, sandbox])
      const result = yield* repo.claim(options())
      expect(result.invalid).toBe(1)
      expect(result.claimed.map((j) => j.id)).toEqual([plain])
      expect((yield* rowOf(inference!)).status).toBe("queued")
      const failed = yield* rowOf(bad!)
      expect(failed).toMatchObject({ status: "failed", task_status: "failed", summary: "job failed (invalid_payload)", ended: true })
      expect(failed.result).toMatchObject({ version: 1, status: "failed", error_type: "invalid_payload" })
      yield* addNode({ slug: "with-inference" })
      const later = yield* repo.claim(options())
      expect(later.claimed.map((j) => [j.id, j.node.nodeSlug, j.payload])).toEqual([
        [inference, "with-inference", { _tag: "inference", inference: { prompt: "hi", model: "standin:latest" } }]
      ])
    }))

  it.effect("places by node_selector labels, lets a job wait for a busy matching node, and fails at once one no live node fits", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const sql = yield* SqlClient.SqlClient
      const a = yield* addNode({ slug: "node-a", maxConcurrency: 1 })
      const b = yield* addNode({ slug: "node-b", maxConcurrency: 4 })
      yield* sql`UPDATE node_capabilities SET capability_snapshot = capability_snapshot || '{"node":{"labels":["zone=a","ssd"]}}'::jsonb
        WHERE node_id = ${a}`
      yield* sql`UPDATE node_capabilities SET capability_snapshot = capability_snapshot || '{"node":{"labels":["zone=b"]}}'::jsonb
        WHERE node_id = ${b}`
      const [ssd1, ssd2, plain, gpu] = yield* addJobs([
        { ...sandbox, placement: { node_selector: ["ssd"] } },
        { ...sandbox, placement: { node_selector: ["ssd", "zone=a"] } },
        sandbox,
        { ...sandbox, placement: { node_selector: ["gpu"] } }
      ])
      const { claimed, invalid } = yield* repo.claim(options())
      expect(claimed.map((j) => [j.id, j.node.nodeSlug])).toEqual([[ssd1, "node-a"], [plain, "node-b"]])
      expect(invalid).toBe(1)
      // The second ssd job waits for node-a's one slot; the gpu job failed with a reason.
      expect((yield* rowOf(ssd2!)).status).toBe("queued")
      const failed = yield* rowOf(gpu!)
      expect(failed).toMatchObject({ status: "failed", task_status: "failed", result: { error_type: "unsatisfiable" } })
      expect(failed.result!.error).toBe("no live node has labels gpu; live nodes: node-a [zone=a, ssd, inference]; node-b [zone=b, inference]")
      // The placement stays on the stored payload, never in the worker's request.
      const stored = yield* sql<{ payload: Record<string, unknown> }>`SELECT payload FROM jobs WHERE id = ${ssd1!}`
      expect(stored[0]!.payload.placement).toEqual({ node_selector: ["ssd"] })
      expect(runBody(claimed[0]!)).not.toHaveProperty("placement")
      expect(runBody(claimed[0]!)).toMatchObject({ lease_id: claimed[0]!.leaseId, lease_seq: claimed[0]!.leaseSeq })
      yield* repo.finish(claimed[0]!, { version: 1, status: "completed", stdout: "", stderr: "" }, "completed")
      expect((yield* repo.claim(options())).claimed.map((j) => [j.id, j.node.nodeSlug])).toEqual([[ssd2, "node-a"]])
    }))

  it.effect("skips a cooling node until a newer ack", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const a = yield* addNode({ slug: "node-a" })
      yield* addJobs([sandbox])
      const cooling = new Map([[a, { since: Date.now(), until: Date.now() + 60_000 }]])
      expect((yield* repo.claim(options({ cooling }))).claimed).toHaveLength(0)
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE nodes SET config_ack_at = now() + interval '1 second'`)
      expect((yield* repo.claim(options({ cooling }))).claimed).toHaveLength(1)
    }))

  it.effect("step 6 keeps a canceled job canceled, and a lost lease writes nothing", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const sql = yield* SqlClient.SqlClient
      yield* addNode({ slug: "node-a" })
      const [one, two] = yield* addJobs([sandbox, sandbox])
      const claimed = (yield* repo.claim(options())).claimed
      const held = (id: string) => claimed.find((j) => j.id === id)!
      yield* sql`UPDATE tasks SET status = 'canceled', closed = true WHERE id = ${held(one!).taskId}`
      yield* sql`UPDATE jobs SET status = 'canceled' WHERE id = ${one!}`
      const worker = { version: 1, status: "failed", exit_code: -1, stdout: "", stderr: "cynode-worker: job canceled\n" }
      expect(yield* repo.finish(held(one!), worker, "failed")).toBe("stored")
      expect(yield* rowOf(one!)).toMatchObject({ status: "canceled", task_status: "canceled", summary: "job canceled", ended: true })
      expect(yield* repo.finish({ id: two!, leaseId: "00000000-0000-4000-8000-000000000000" }, worker, "failed")).toBe("lost")
      expect(yield* rowOf(two!)).toMatchObject({ status: "running", ended: false, result: null })
    }))

  it.effect("requeues (counted or not), and a canceled job ends instead", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const sql = yield* SqlClient.SqlClient
      yield* addNode({ slug: "node-a" })
      const [one, two] = yield* addJobs([sandbox, sandbox])
      const claimed = (yield* repo.claim(options())).claimed
      const notBefore = new Date(Date.now() + 60_000)
      expect(yield* repo.requeue(claimed[0]!, { counted: true, notBefore })).toBe("requeued")
      const row = yield* rowOf(one!)
      expect(row).toMatchObject({ status: "queued", node_id: null, attempts: 1, task_status: "pending" })
      expect(row.not_before?.getTime()).toBe(Math.floor(notBefore.getTime()))
      // Not claimable before not_before.
      expect((yield* repo.claim(options())).claimed).toHaveLength(0)
      yield* sql`UPDATE jobs SET status = 'canceled' WHERE id = ${two!}`
      expect(yield* repo.requeue(claimed[1]!, { counted: false, notBefore: null })).toBe("ended")
      expect(yield* rowOf(two!)).toMatchObject({ status: "canceled", ended: true })
      expect(yield* repo.requeue(claimed[1]!, { counted: false, notBefore: null })).toBe("lost")
    }))

  it.effect("renews held leases, and takes over lapsed ones with a new lease", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      const sql = yield* SqlClient.SqlClient
      yield* addNode({ slug: "node-a" })
      const [one] = yield* addJobs([{ command: ["sleep", "1"], timeout_seconds: 30 }])
      const [held] = (yield* repo.claim(options())).claimed
      expect(yield* repo.renewLeases([held!], 15_000)).toEqual(new Map([[one, "running"]]))
      expect(yield* repo.claimLapsed(10, 15_000)).toHaveLength(0)
      yield* sql`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = ${one!}`
      const lapsed = yield* repo.claimLapsed(10, 15_000)
      expect(lapsed).toHaveLength(1)
      expect(lapsed[0]).toMatchObject({ id: one, status: "running", timeoutSeconds: 30 })
      expect(lapsed[0]!.leaseId).not.toBe(held!.leaseId)
      // Leases are ordered: the takeover's number is larger, and the old lease no longer passes the pre-send check.
      expect(lapsed[0]!.leaseSeq).toBeGreaterThan(held!.leaseSeq)
      expect(yield* repo.leaseCurrent(held!)).toBe(false)
      expect(yield* repo.leaseCurrent(lapsed[0]!)).toBe(true)
      expect(lapsed[0]!.node?.nodeSlug).toBe("node-a")
      // The old holder's lease is gone: renewal says so, and its writes are refused.
      expect((yield* repo.renewLeases([held!], 15_000)).size).toBe(0)
      expect(yield* repo.finish(held!, failure("outcome_unknown", "x"), "failed")).toBe("lost")
      expect(yield* repo.finish(lapsed[0]!, { version: 1, status: "completed", stdout: "", stderr: "" }, "completed")).toBe("stored")
    }))

  it.effect("two claimers racing over one queue never take the same job", () =>
    Effect.gen(function*() {
      yield* reset
      const repo = yield* JobsRepo
      yield* addNode({ slug: "node-a", maxConcurrency: 1000 })
      yield* addNode({ slug: "node-b", maxConcurrency: 1000 })
      const ids = yield* addJobs(Array.from({ length: 120 }, () => sandbox))
      const claimer = Effect.gen(function*() {
        const mine: Array<string> = []
        while (true) {
          const { claimed } = yield* repo.claim(options({ limit: 7, nodeMaxInflight: 1000 }))
          if (claimed.length === 0) return mine
          for (const job of claimed) {
            mine.push(job.id)
            yield* repo.finish(job, { version: 1, status: "completed", stdout: "", stderr: "" }, "completed")
          }
        }
      })
      const [first, second] = yield* Effect.all([claimer, claimer], { concurrency: 2 })
      const all = [...first, ...second]
      expect(new Set(all).size).toBe(all.length)
      expect([...all].sort()).toEqual([...ids].sort())
    }))
})

describe("failure", () => {
  it("has the upstream shape plus error_type, and the worker's problem when there is one", () => {
    expect(failure("worker_rejected", "no", { status: 403, type: "urn:cynodeai:error:authorization", detail: "image" })).toEqual({
      version: 1,
      status: "failed",
      error: "no",
      error_type: "worker_rejected",
      worker_problem: { status: 403, type: "urn:cynodeai:error:authorization", detail: "image" }
    })
  })
})
