import { SqlClient } from "@effect/sql"
import { Context, Data, Effect, Layer } from "effect"
import type { JobPayload, JobStatus } from "../../schema/job.ts"
import type { TaskStatus } from "../../schema/task.ts"
import { autoTaskName, firstFreeName } from "./TaskNames.ts"

/** Tasks and their jobs (user-gateway.md §4–§6). The database says `pending` where the API says `queued`. */

export interface TaskRow {
  readonly id: string
  readonly created_by: string
  readonly status: string
  readonly closed: boolean
  readonly prompt: string
  readonly summary: string
  readonly metadata: { readonly attachments?: ReadonlyArray<string> } | null
  readonly created_at: Date
  readonly updated_at: Date
}

export interface JobRow {
  readonly id: string
  readonly status: JobStatus
  readonly result: unknown
  readonly started_at: Date | null
  readonly ended_at: Date | null
}

export interface ArtifactRow {
  readonly path: string
  readonly size_bytes: string | number
  readonly content_type: string
  readonly sha256: string
  readonly storage_key: string
  readonly created_at: Date
}

export interface NewTask {
  readonly userId: string
  readonly prompt: string
  /** The normalized requested name; absent ⇒ an automatic `task_name_NNN`. */
  readonly name: string | undefined
  readonly projectId: string | undefined
  readonly metadata: Record<string, unknown>
  readonly payload: JobPayload
}

export class TaskAlreadyClosed extends Data.TaggedError("TaskAlreadyClosed")<{ readonly status: TaskStatus }> {}

export const toApiStatus = (stored: string): TaskStatus => (stored === "pending" ? "queued" : stored as TaskStatus)
export const toStoredStatus = (status: TaskStatus): string => (status === "queued" ? "pending" : status)

/**
 * A user's creates take turns on a transaction-scoped advisory lock, so the count behind `task_name_NNN` and the
 * free-name pick see every earlier create; the ON CONFLICT retries only guard against a writer that skips the lock.
 */
const NAME_ATTEMPTS = 8
const NAME_LOCK_SPACE = 0x7a5c // the first key of the (space, user) advisory lock pair

export const makeTasksRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const taskColumns = sql`id, created_by, status, closed, prompt, summary, metadata, created_at, updated_at`

  const takenNames = (userId: string, base: string) =>
    sql<{ readonly summary: string }>`
      SELECT summary FROM tasks
      WHERE created_by = ${userId} AND (summary = ${base} OR left(summary, ${base.length + 1}) = ${`${base}-`})`.pipe(
      Effect.map((rows) => new Set(rows.map((r) => r.summary)))
    )

  const baseName = (task: NewTask) =>
    task.name !== undefined
      ? Effect.succeed(task.name)
      : sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM tasks WHERE created_by = ${task.userId}`.pipe(
        Effect.map((rows) => autoTaskName((rows[0]?.n ?? 0) + 1))
      )

  /** The task (`pending`) and exactly one `queued` job, in one transaction; the jobs trigger wakes the dispatcher. */
  const create = (task: NewTask) =>
    sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${NAME_LOCK_SPACE}, hashtext(${task.userId}))`
        const base = yield* baseName(task)
        for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
          const name = firstFreeName(base, yield* takenNames(task.userId, base))
          const [row] = yield* sql<TaskRow>`
            INSERT INTO tasks (created_by, project_id, status, closed, prompt, summary, metadata)
            VALUES (${task.userId}, ${task.projectId ?? null}, 'pending', false, ${task.prompt}, ${name},
              ${JSON.stringify(task.metadata)}::jsonb)
            ON CONFLICT (created_by, summary) DO NOTHING
            RETURNING ${taskColumns}`
          if (row === undefined) continue
          yield* sql`
            INSERT INTO jobs (task_id, status, payload)
            VALUES (${row.id}, 'queued', ${JSON.stringify(task.payload)}::jsonb)`
          return row
        }
        return yield* Effect.dieMessage(`no free task name for ${base} after ${NAME_ATTEMPTS} attempts`)
      })
    ).pipe(Effect.orDie, Effect.withSpan("TasksRepo.create"))

  /** The caller's own tasks, newest first, filtered in SQL before paging; one extra row says whether more exist. */
  const listOwn = (userId: string, status: TaskStatus | undefined, limit: number, offset: number) =>
    sql<TaskRow>`
      SELECT ${taskColumns} FROM tasks
      WHERE ${sql.and([
      sql`created_by = ${userId}`,
      ...(status !== undefined ? [sql`status = ${toStoredStatus(status)}`] : [])
    ])}
      ORDER BY created_at DESC, id DESC
      LIMIT ${limit + 1} OFFSET ${offset}`.pipe(
      Effect.map((rows) => ({ tasks: rows.slice(0, limit), more: rows.length > limit })),
      Effect.orDie,
      Effect.withSpan("TasksRepo.listOwn")
    )

  const findById = (id: string) =>
    sql<TaskRow>`SELECT ${taskColumns} FROM tasks WHERE id = ${id}`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.orDie,
      Effect.withSpan("TasksRepo.findById")
    )

  const findOwnByName = (userId: string, name: string) =>
    sql<TaskRow>`
      SELECT ${taskColumns} FROM tasks WHERE created_by = ${userId} AND summary = ${name}
      ORDER BY created_at DESC LIMIT 1`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.orDie,
      Effect.withSpan("TasksRepo.findOwnByName")
    )

  /** Jobs oldest first. */
  const jobsOf = (taskId: string) =>
    sql<JobRow>`
      SELECT id, status, result, started_at, ended_at FROM jobs WHERE task_id = ${taskId}
      ORDER BY created_at, id`.pipe(Effect.orDie, Effect.withSpan("TasksRepo.jobsOf"))

  /**
   * The task and its unfinished jobs become `canceled` (the jobs trigger tells the dispatcher, which stops a running
   * sandbox). A queued job also ends now; a running one keeps `ended_at` empty until its dispatcher stops it.
   * Lock order is the dispatcher's (claim, finish, requeue): the task's jobs by id, then the task, so a cancel racing
   * a claim or a result waits instead of deadlocking. NO KEY UPDATE: a job insert's key-share lock need not wait.
   */
  const cancel = (taskId: string) =>
    sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT id FROM jobs WHERE task_id = ${taskId} ORDER BY id FOR UPDATE`
        const [task] = yield* sql<{ readonly status: string; readonly closed: boolean }>`
          SELECT status, closed FROM tasks WHERE id = ${taskId} FOR NO KEY UPDATE`
        if (task === undefined) return yield* Effect.dieMessage(`task ${taskId} vanished while canceling`)
        if (task.closed) return yield* Effect.fail(new TaskAlreadyClosed({ status: toApiStatus(task.status) }))
        yield* sql`UPDATE tasks SET status = 'canceled', closed = true WHERE id = ${taskId}`
        yield* sql`
          UPDATE jobs SET status = 'canceled', ended_at = CASE WHEN status = 'queued' THEN now() ELSE ended_at END
          WHERE task_id = ${taskId} AND status IN ('queued', 'running')`
      })
    ).pipe(Effect.catchTag("SqlError", Effect.die), Effect.withSpan("TasksRepo.cancel"))

  const artifactsOf = (taskId: string) =>
    sql<ArtifactRow>`
      SELECT path, size_bytes, content_type, sha256, storage_key, created_at FROM task_artifacts
      WHERE task_id = ${taskId} ORDER BY path`.pipe(Effect.orDie)

  const artifactOf = (taskId: string, path: string) =>
    sql<ArtifactRow>`
      SELECT path, size_bytes, content_type, sha256, storage_key, created_at FROM task_artifacts
      WHERE task_id = ${taskId} AND path = ${path}`.pipe(Effect.map((rows) => rows[0]), Effect.orDie)

  return { create, listOwn, findById, findOwnByName, jobsOf, cancel, artifactsOf, artifactOf } as const
})

export class TasksRepo extends Context.Tag("cynode/user-gateway/TasksRepo")<
  TasksRepo,
  Effect.Effect.Success<typeof makeTasksRepo>
>() {
  static readonly Live = Layer.effect(TasksRepo, makeTasksRepo)
}
