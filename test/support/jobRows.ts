import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"

/** A queued job with its task and a fresh owner, inserted straight into the tables (for repository tests). */
export const addJob = (payload: unknown = { command: ["true"] }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ id: string; task_id: string }>`
      WITH u AS (INSERT INTO users (handle) VALUES (${`u-${randomBytes(4).toString("hex")}`}) RETURNING id),
        t AS (INSERT INTO tasks (created_by, prompt, summary) SELECT id, 'p', 's' FROM u RETURNING id)
      INSERT INTO jobs (task_id, payload) SELECT id, ${JSON.stringify(payload)}::jsonb FROM t
      RETURNING id::text AS id, task_id::text AS task_id`
    return { id: row!.id, taskId: row!.task_id }
  })
