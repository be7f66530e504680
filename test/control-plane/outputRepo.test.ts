import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, FastCheck as fc } from "effect"
import type { OutputChunkLine } from "../../schema/worker.ts"
import { makeOutputRepo } from "../../src/control-plane/OutputRepo.ts"
import { addJob } from "../support/jobRows.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** Live output rows completed from a job's final result: what the stream missed is appended, once, in order. */

const rows = (jobId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ seq: number; stream: string; data: string }>`
      SELECT seq, stream, data FROM task_output WHERE job_id = ${jobId} ORDER BY seq`)


const textOfRows = (list: ReadonlyArray<{ stream: string; data: string }>, stream: string) =>
  list.filter((r) => r.stream === stream).map((r) => r.data).join("")

/** What the dispatcher's finish does: the job row ended, then its output completed, in one transaction. */
const finishWith = (job: { id: string; taskId: string }, result: { stdout: string; stderr: string }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* makeOutputRepo
    yield* sql`UPDATE jobs SET ended_at = now() WHERE id = ${job.id}`
    yield* repo.complete(job, result)
  }).pipe((eff) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(eff)))

/** A wall-clock delay (it.effect runs on the test clock, where a sleep never ends by itself). */
const realDelay = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** A node's live output: numbered pieces of both streams, cut into the batches the relay receives. */
const nodeOutput = fc
  .array(fc.record({ stream: fc.constantFrom("stdout" as const, "stderr" as const), text: fc.string({ minLength: 1, maxLength: 6 }) }), {
    minLength: 1,
    maxLength: 8
  })
  .chain((pieces) =>
    fc.tuple(
      fc.constant(pieces.map((p, i): OutputChunkLine => ({ seq: i + 1, stream: p.stream, text: p.text }))),
      fc.array(fc.integer({ min: 1, max: pieces.length }), { maxLength: 4 }),
      fc.integer({ min: 0, max: pieces.length })
    )
  )
  .map(([chunks, cuts, finishAfter]) => {
    const bounds = [...new Set([0, ...cuts, chunks.length])].sort((a, b) => a - b)
    const batches = bounds.slice(1).map((end, i) => chunks.slice(bounds[i], end))
    const final = {
      stdout: chunks.filter((c) => c.stream === "stdout").map((c) => c.text).join(""),
      stderr: chunks.filter((c) => c.stream === "stderr").map((c) => c.text).join("")
    }
    return { batches, final, finishAfter: Math.min(finishAfter, batches.length) }
  })

it.layer(TestDatabase.layer, { timeout: 60_000 })("OutputRepo.complete", (it) => {
  it.effect("appends both streams when nothing was streamed, stdout first", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      const job = yield* addJob()
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
      const job = yield* addJob()
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
      const job = yield* addJob()
      yield* repo.complete(job, { status: "failed", error: "boom" })
      expect(yield* rows(job.id)).toEqual([{ seq: 1, stream: "stderr", data: "boom" }])
      const quiet = yield* addJob()
      yield* repo.complete(quiet, null)
      expect(yield* rows(quiet.id)).toEqual([])
    }))
})

it.layer(TestDatabase.layer, { timeout: 120_000 })("OutputRepo: a relay and the job's finish", (it) => {
  it.effect("an append after the job ended stores nothing", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      const job = yield* addJob()
      yield* repo.append(job, [{ seq: 1, stream: "stdout", text: "a" }])
      yield* finishWith(job, { stdout: "ab", stderr: "" })
      yield* repo.append(job, [{ seq: 2, stream: "stdout", text: "b" }, { seq: 3, stream: "stderr", text: "late" }])
      expect(yield* rows(job.id)).toEqual([{ seq: 1, stream: "stdout", data: "a" }, { seq: 2, stream: "stdout", data: "b" }])
    }))

  it.effect.prop(
    "whenever the finish comes between the relay's batches, the rows spell each stream's final text once",
    { output: nodeOutput },
    ({ output }) =>
      Effect.gen(function*() {
        const repo = yield* makeOutputRepo
        const job = yield* addJob()
        for (const batch of output.batches.slice(0, output.finishAfter)) yield* repo.append(job, batch)
        yield* finishWith(job, output.final)
        for (const batch of output.batches.slice(output.finishAfter)) yield* repo.append(job, batch)
        const stored = yield* rows(job.id)
        expect({ stdout: textOfRows(stored, "stdout"), stderr: textOfRows(stored, "stderr") }).toEqual(output.final)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("concurrent relay batches and finishes never store a piece twice", () =>
    Effect.gen(function*() {
      const repo = yield* makeOutputRepo
      for (let round = 0; round < 40; round++) {
        const job = yield* addJob()
        const chunks: Array<OutputChunkLine> = [
          { seq: 1, stream: round % 2 === 0 ? "stderr" : "stdout", text: "x\n" },
          { seq: 2, stream: "stdout", text: "out\n" },
          { seq: 3, stream: "stderr", text: "err\n" }
        ]
        const final = {
          stdout: chunks.filter((c) => c.stream === "stdout").map((c) => c.text).join(""),
          stderr: chunks.filter((c) => c.stream === "stderr").map((c) => c.text).join("")
        }
        yield* Effect.all(
          [
            Effect.forEach(chunks, (c) => repo.append(job, [c]), { discard: true }),
            realDelay(round % 5).pipe(Effect.zipRight(finishWith(job, final)))
          ],
          { concurrency: "unbounded", discard: true }
        )
        const stored = yield* rows(job.id)
        expect({ stdout: textOfRows(stored, "stdout"), stderr: textOfRows(stored, "stderr") }).toEqual(final)
      }
    }))
})
