import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { makeOutputRepo } from "../../src/control-plane/OutputRepo.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** Live output rows completed from a job's final result: what the stream missed is appended, once, in order. */

const rows = (jobId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ seq: number; stream: string; data: string }>`
      SELECT seq, stream, data FROM task_output WHERE job_id = ${jobId} ORDER BY seq`)

const addJob = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ id: string; task_id: string }>`
    WITH u AS (INSERT INTO users (handle) VALUES (${`u-${Math.random().toString(16).slice(2)}`}) RETURNING id),
      t AS (INSERT INTO tasks (created_by, prompt, summary) SELECT id, 'p', 's' FROM u RETURNING id)
    INSERT INTO jobs (task_id, payload) SELECT id, '{"command":["true"]}'::jsonb FROM t
    RETURNING id::text AS id, task_id::text AS task_id`
  return { id: row!.id, taskId: row!.task_id }
})

it.layer(TestDatabase.layer, { timeout: 60_000 })("OutputRepo.complete", (it) => {
  it.effect("appends both streams when nothing was streamed, stdout first", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      const job = yield* addJob
      yield* repo.complete(job, { stdout: "out\n", stderr: "err\n" })
      expect(yield* rows(job.id)).toEqual([
        { seq: 1, stream: "stdout", data: "out\n" },
        { seq: 2, stream: "stderr", data: "err\n" }
      ])
      // A second completion adds nothing.
      yield* repo.complete(job, { stdout: "out\n", stderr: "err\n" })
      expect((yield* rows(job.id)).length).toBe(2)
    }))

  it.effect("appends only what the stream missed, after the last chunk; a diverging stream is left alone", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      const job = yield* addJob
      yield* repo.append(job, [{ seq: 1, stream: "stdout", text: "hé " }, { seq: 2, stream: "stderr", text: "warn" }])
      yield* repo.complete(job, { stdout: "hé llo 😀", stderr: "other" })
      expect(yield* rows(job.id)).toEqual([
        { seq: 1, stream: "stdout", data: "hé " },
        { seq: 2, stream: "stderr", data: "warn" },
        { seq: 3, stream: "stdout", data: "llo 😀" }
      ])
      expect(yield* repo.lastSeq(job.id)).toBe(3)
    }))

  it.effect("a failure's error text completes stderr; a result without text adds nothing", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      const job = yield* addJob
      yield* repo.complete(job, { status: "failed", error: "boom" })
      expect(yield* rows(job.id)).toEqual([{ seq: 1, stream: "stderr", data: "boom" }])
      const quiet = yield* addJob
      yield* repo.complete(quiet, null)
      expect(yield* rows(quiet.id)).toEqual([])
    }))
})
