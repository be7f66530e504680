import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { TasksRepo } from "../../src/user-gateway/TasksRepo.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/** Parallel creates by one user (two CLI commands, a script's loop) each get their own name, none an error. */

const TestLayer = TasksRepo.Live.pipe(Layer.provideMerge(TestDatabase.layer))
const PARALLEL = 40

const newTask = (userId: string, name: string | undefined) => ({
  userId,
  prompt: "echo hi",
  name,
  projectId: undefined,
  metadata: {},
  payload: { command: ["echo", "hi"] as const }
})

it.layer(TestLayer, { timeout: 120_000 })("task names under parallel creates", (it) => {
  it.effect(`${PARALLEL} parallel creates without a name and ${PARALLEL} with one name all succeed, names distinct`, () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [user] = yield* sql<{ id: string }>`INSERT INTO users (handle) VALUES ('name-racer') RETURNING id::text AS id`
      const repo = yield* TasksRepo
      const creates = [
        ...Array.from({ length: PARALLEL }, () => repo.create(newTask(user!.id, undefined))),
        ...Array.from({ length: PARALLEL }, () => repo.create(newTask(user!.id, "nightly-build")))
      ]
      const rows = yield* Effect.all(creates, { concurrency: "unbounded" })
      const names = rows.map((row) => row.summary)
      expect(new Set(names).size).toBe(2 * PARALLEL)
      expect(names.filter((n) => n.startsWith("nightly-build")).length).toBe(PARALLEL)
    }))
})
