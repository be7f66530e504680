import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { JobsRepo, type ClaimOptions } from "../../src/control-plane/JobsRepo.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { TaskAlreadyClosed, TasksRepo } from "../../src/user-gateway/TasksRepo.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * The gateway's cancel against the dispatcher's claim, finish and lease renewal on a real PostgreSQL, interleaved
 * thousands of times: one lock order (jobs, then their task) means no "deadlock detected" and no other error.
 */

const tokens = WorkerTokens.fromKey(new Uint8Array(randomBytes(32)))
const TestLayer = Layer.mergeAll(JobsRepo.Live, TasksRepo.Live).pipe(
  Layer.provideMerge(Layer.mergeAll(TestDatabase.layer, Layer.succeed(WorkerTokens, tokens)))
)

const ROUNDS = 80
const TASKS_PER_ROUND = 25

const options: ClaimOptions = {
  limit: 8,
  nodeMaxInflight: 10_000,
  leaseTtlMs: 15_000,
  sandboxImage: "localhost/cynode-sandbox:latest",
  inferenceModel: "standin:latest",
  cooling: new Map()
}

const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    INSERT INTO nodes (node_slug, status, config_version, issued_config_version, issued_inference, config_ack_status,
      worker_api_target_url, worker_api_bearer_token)
    VALUES ('race-node', 'active', 'v1', 'v1', true, 'applied', 'http://race-node.test:12090/',
      ${tokens.encrypt(Redacted.make("token"))})`
  const [user] = yield* sql<{ id: string }>`INSERT INTO users (handle) VALUES ('racer') RETURNING id::text AS id`
  return user!.id
})

const addTasks = (userId: string, round: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ id: string }>`
      WITH t AS (
        INSERT INTO tasks (created_by, prompt, summary)
        SELECT ${userId}, 'p', ${`r${round}-`} || g FROM generate_series(1, ${TASKS_PER_ROUND}) g
        RETURNING id)
      INSERT INTO jobs (task_id, payload) SELECT id, '{"command":["true"]}'::jsonb FROM t
      RETURNING task_id::text AS id`).pipe(Effect.map((rows) => rows.map((r) => r.id)))

const describe = (e: unknown): string => {
  const inner = (e as { cause?: { message?: unknown } }).cause?.message
  return typeof inner === "string" ? inner : String(e)
}

/** Every failure other than the expected "already closed" answer counts. */
const errors = (effects: ReadonlyArray<Effect.Effect<unknown, unknown>>) =>
  Effect.forEach(effects, Effect.exit, { concurrency: "unbounded" }).pipe(
    Effect.map((exits) =>
      exits.flatMap((exit) =>
        Exit.isFailure(exit) && !Option.exists(Cause.failureOption(exit.cause), (e) => e instanceof TaskAlreadyClosed)
          ? [describe(Cause.squash(exit.cause))]
          : []
      )
    )
  )

it.layer(TestLayer, { timeout: 300_000 })("cancel racing claim, finish and renewal", (it) => {
  it.effect(`${ROUNDS * TASKS_PER_ROUND} tasks: zero errors, every task closed, every job ended`, () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const jobs = yield* JobsRepo
      const tasks = yield* TasksRepo
      const userId = yield* setup
      const failures: Array<string> = []
      for (let round = 0; round < ROUNDS; round++) {
        const ids = yield* addTasks(userId, round)
        // The dispatcher's side: claim in small batches, renew what it holds, finish what it claimed.
        const dispatcher = Effect.gen(function*() {
          const held: Array<{ id: string; leaseId: string }> = []
          for (let i = 0; i < TASKS_PER_ROUND / options.limit + 1; i++) {
            const claimed = yield* jobs.claim(options)
            held.push(...claimed.claimed)
            yield* jobs.renewLeases(held, options.leaseTtlMs)
            failures.push(...(yield* errors(
              claimed.claimed.map((job) => jobs.finish(job, { version: 1, status: "completed", stdout: "", stderr: "" }, "completed"))
            )))
          }
        })
        const cancels = ids.filter((_, i) => i % 2 === round % 2).map((id) => tasks.cancel(id))
        failures.push(...(yield* errors([dispatcher, ...cancels])))
        // What a cancel left running is stopped by its dispatcher: here, claimed and ended by the next rounds' finish.
      }
      // Drain: whatever is still queued is claimed and finished.
      for (let more = true; more;) {
        const rest = yield* jobs.claim({ ...options, limit: 1000 })
        for (const job of rest.claimed) yield* jobs.finish(job, { version: 1, status: "completed" }, "completed")
        more = rest.claimed.length > 0
      }
      expect(failures).toEqual([])
      const [state] = yield* sql<{ open_tasks: number; unended_jobs: number; canceled: number; completed: number }>`
        SELECT (SELECT count(*)::int FROM tasks WHERE NOT closed) AS open_tasks,
          (SELECT count(*)::int FROM jobs WHERE ended_at IS NULL) AS unended_jobs,
          (SELECT count(*)::int FROM tasks WHERE status = 'canceled') AS canceled,
          (SELECT count(*)::int FROM tasks WHERE status = 'completed') AS completed`
      expect(state).toMatchObject({ open_tasks: 0, unended_jobs: 0 })
      expect(state!.canceled + state!.completed).toBe(ROUNDS * TASKS_PER_ROUND)
      expect(state!.canceled).toBeGreaterThan(0)
    }), 300_000)
})

