import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Chunk, Effect, Layer, Stream } from "effect"
import { TaskOutput } from "../../src/user-gateway/TaskOutput.ts"
import { addJob } from "../support/jobRows.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * Following a task's output from its rows: every row once, in the order written. Row ids are numbers; compared as
 * text, 10 sorts before 9, which once sent row 10 twice to every follower of a task whose rows crossed a digit.
 */

const TestLayer = TaskOutput.Live.pipe(Layer.provideMerge(TestDatabase.layer))

it.layer(TestLayer, { timeout: 60_000 })("TaskOutput.follow", (it) => {
  it.effect("sends every row once, in id order, across 9 → 10 and 99 → 100, then the end", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { id: jobId, taskId } = yield* addJob()
      for (let seq = 1; seq <= 120; seq++) {
        yield* sql`INSERT INTO task_output (task_id, job_id, seq, stream, data)
          VALUES (${taskId}, ${jobId}, ${seq}, ${seq % 3 === 0 ? "stderr" : "stdout"}, ${`${seq}\n`})`
      }
      yield* sql`UPDATE tasks SET status = 'completed', closed = true WHERE id = ${taskId}`
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect((yield* TaskOutput).follow(taskId, 0)))
      const texts = events.flatMap((e) => (e._tag === "Output" ? [e.text] : []))
      expect(texts).toEqual(Array.from({ length: 120 }, (_, i) => `${i + 1}\n`))
      const ids = events.flatMap((e) => (e._tag === "Output" ? [e.id] : []))
      expect(ids).toEqual([...ids].sort((a, b) => a - b))
      expect(events.at(-1)?._tag).toBe("End")
    }))
})
