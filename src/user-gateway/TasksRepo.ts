import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Data, Effect, Layer, Option, Schema } from "effect"
import { type JobPayload, JobStatus } from "../../schema/job.ts"
import type { TaskStatus } from "../../schema/task.ts"
import { autoTaskName, firstFreeName } from "./TaskNames.ts"

/** Tasks and their jobs (user-gateway.md §4–§6). The database says `pending` where the API says `queued`. */

/** Rows as the pg driver returns them: uuid as string, timestamptz as Date, jsonb parsed, bigint as string. */
export const TaskRow = Schema.Struct({
  id: Schema.String,
  created_by: Schema.String,
  status: Schema.String,
  closed: Schema.Boolean,
  prompt: Schema.String,
  summary: Schema.String,
  metadata: Schema.NullOr(Schema.Struct({ attachments: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }) })),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}).annotations({ identifier: "TaskRow" })
export type TaskRow = typeof TaskRow.Type

export const JobRow = Schema.Struct({
  id: Schema.String,
  status: JobStatus,
  result: Schema.Unknown,
  started_at: Schema.NullOr(Schema.DateFromSelf),
  ended_at: Schema.NullOr(Schema.DateFromSelf)
}).annotations({ identifier: "JobRow" })
export type JobRow = typeof JobRow.Type

export const ArtifactRow = Schema.Struct({
  path: Schema.String,
  size_bytes: Schema.Union(Schema.String, Schema.Number),
  content_type: Schema.String,
  sha256: Schema.String,
  storage_key: Schema.String,
  created_at: Schema.DateFromSelf
}).annotations({ identifier: "ArtifactRow" })
export type ArtifactRow = typeof ArtifactRow.Type

const TaskState = Schema.Struct({ status: Schema.String, closed: Schema.Boolean }).annotations({ identifier: "TaskState" })
const TaskId = Schema.String
const OwnName = Schema.Struct({ userId: Schema.String, name: Schema.String })

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

  const takenNames = SqlSchema.findAll({
    Request: Schema.Struct({ userId: Schema.String, base: Schema.String }),
    Result: Schema.Struct({ summary: Schema.String }),
    execute: ({ base, userId }) =>
      sql`
        SELECT summary FROM tasks
        WHERE created_by = ${userId} AND (summary = ${base} OR left(summary, ${base.length + 1}) = ${`${base}-`})`
  })

  const taskCount = SqlSchema.single({
    Request: Schema.String,
    Result: Schema.Struct({ n: Schema.Number }),
    execute: (userId) => sql`SELECT count(*)::int AS n FROM tasks WHERE created_by = ${userId}`
  })

  const baseName = (task: NewTask) =>
    task.name !== undefined
      ? Effect.succeed(task.name)
      : taskCount(task.userId).pipe(Effect.map(({ n }) => autoTaskName(n + 1)))

  const insertTask = SqlSchema.findOne({
    Request: Schema.Struct({
      userId: Schema.String,
      projectId: Schema.NullOr(Schema.String),
      prompt: Schema.String,
      name: Schema.String,
      metadata: Schema.String
    }),
    Result: TaskRow,
    execute: (t) =>
      sql`
        INSERT INTO tasks (created_by, project_id, status, closed, prompt, summary, metadata)
        VALUES (${t.userId}, ${t.projectId}, 'pending', false, ${t.prompt}, ${t.name}, ${t.metadata}::jsonb)
        ON CONFLICT (created_by, summary) DO NOTHING
        RETURNING ${taskColumns}`
  })

  const insertJob = SqlSchema.void({
    Request: Schema.Struct({ taskId: Schema.String, payload: Schema.String }),
    execute: ({ payload, taskId }) =>
      sql`INSERT INTO jobs (task_id, status, payload) VALUES (${taskId}, 'queued', ${payload}::jsonb)`
  })

  /** The task (`pending`) and exactly one `queued` job, in one transaction; the jobs trigger wakes the dispatcher. */
  const create = (task: NewTask) =>
    sql.withTransaction(
      Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(${NAME_LOCK_SPACE}, hashtext(${task.userId}))`
        const base = yield* baseName(task)
        for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
          const taken = yield* takenNames({ userId: task.userId, base })
          const name = firstFreeName(base, new Set(taken.map((r) => r.summary)))
          const row = yield* insertTask({
            userId: task.userId,
            projectId: task.projectId ?? null,
            prompt: task.prompt,
            name,
            metadata: JSON.stringify(task.metadata)
          })
          if (Option.isNone(row)) continue
          yield* insertJob({ taskId: row.value.id, payload: JSON.stringify(task.payload) })
          return row.value
        }
        return yield* Effect.dieMessage(`no free task name for ${base} after ${NAME_ATTEMPTS} attempts`)
      })
    ).pipe(Effect.orDie, Effect.withSpan("TasksRepo.create"))

  const ownTasks = SqlSchema.findAll({
    Request: Schema.Struct({
      userId: Schema.String,
      status: Schema.UndefinedOr(Schema.String),
      limit: Schema.Number,
      offset: Schema.Number
    }),
    Result: TaskRow,
    execute: ({ limit, offset, status, userId }) =>
      sql`
        SELECT ${taskColumns} FROM tasks
        WHERE ${sql.and([sql`created_by = ${userId}`, ...(status !== undefined ? [sql`status = ${status}`] : [])])}
        ORDER BY created_at DESC, id DESC
        LIMIT ${limit} OFFSET ${offset}`
  })

  /** The caller's own tasks, newest first, filtered in SQL before paging; one extra row says whether more exist. */
  const listOwn = (userId: string, status: TaskStatus | undefined, limit: number, offset: number) =>
    ownTasks({
      userId,
      status: status !== undefined ? toStoredStatus(status) : undefined,
      limit: limit + 1,
      offset
    }).pipe(
      Effect.map((rows) => ({ tasks: rows.slice(0, limit), more: rows.length > limit })),
      Effect.orDie,
      Effect.withSpan("TasksRepo.listOwn")
    )

  const taskById = SqlSchema.findOne({
    Request: TaskId,
    Result: TaskRow,
    execute: (id) => sql`SELECT ${taskColumns} FROM tasks WHERE id = ${id}`
  })

  const findById = (id: string) =>
    taskById(id).pipe(Effect.map(Option.getOrUndefined), Effect.orDie, Effect.withSpan("TasksRepo.findById"))

  const taskByName = SqlSchema.findOne({
    Request: OwnName,
    Result: TaskRow,
    execute: ({ name, userId }) =>
      sql`
        SELECT ${taskColumns} FROM tasks WHERE created_by = ${userId} AND summary = ${name}
        ORDER BY created_at DESC LIMIT 1`
  })

  const findOwnByName = (userId: string, name: string) =>
    taskByName({ userId, name }).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.orDie,
      Effect.withSpan("TasksRepo.findOwnByName")
    )

  const jobsOfTask = SqlSchema.findAll({
    Request: TaskId,
    Result: JobRow,
    execute: (taskId) =>
      sql`
        SELECT id, status, result, started_at, ended_at FROM jobs WHERE task_id = ${taskId}
        ORDER BY created_at, id`
  })

  /** Jobs oldest first. */
  const jobsOf = (taskId: string) => jobsOfTask(taskId).pipe(Effect.orDie, Effect.withSpan("TasksRepo.jobsOf"))

  const lockedTask = SqlSchema.single({
    Request: TaskId,
    Result: TaskState,
    execute: (id) => sql`SELECT status, closed FROM tasks WHERE id = ${id} FOR NO KEY UPDATE`
  })

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
        const task = yield* lockedTask(taskId).pipe(
          Effect.catchTag("NoSuchElementException", () => Effect.dieMessage(`task ${taskId} vanished while canceling`))
        )
        if (task.closed) return yield* Effect.fail(new TaskAlreadyClosed({ status: toApiStatus(task.status) }))
        yield* sql`UPDATE tasks SET status = 'canceled', closed = true WHERE id = ${taskId}`
        yield* sql`
          UPDATE jobs SET status = 'canceled', ended_at = CASE WHEN status = 'queued' THEN now() ELSE ended_at END
          WHERE task_id = ${taskId} AND status IN ('queued', 'running')`
      })
    ).pipe(
      Effect.catchTags({ SqlError: Effect.die, ParseError: Effect.die }),
      Effect.withSpan("TasksRepo.cancel")
    )

  const artifactsOf = SqlSchema.findAll({
    Request: TaskId,
    Result: ArtifactRow,
    execute: (taskId) =>
      sql`
        SELECT path, size_bytes, content_type, sha256, storage_key, created_at FROM task_artifacts
        WHERE task_id = ${taskId} ORDER BY path`
  })

  const artifactAt = SqlSchema.findOne({
    Request: Schema.Struct({ taskId: Schema.String, path: Schema.String }),
    Result: ArtifactRow,
    execute: ({ path, taskId }) =>
      sql`
        SELECT path, size_bytes, content_type, sha256, storage_key, created_at FROM task_artifacts
        WHERE task_id = ${taskId} AND path = ${path}`
  })

  return {
    create,
    listOwn,
    findById,
    findOwnByName,
    jobsOf,
    cancel,
    artifactsOf: (taskId: string) => artifactsOf(taskId).pipe(Effect.orDie),
    artifactOf: (taskId: string, path: string) =>
      artifactAt({ taskId, path }).pipe(Effect.map(Option.getOrUndefined), Effect.orDie)
  } as const
})

export class TasksRepo extends Context.Tag("cynode/user-gateway/TasksRepo")<
  TasksRepo,
  Effect.Effect.Success<typeof makeTasksRepo>
>() {
  static readonly Live = Layer.effect(TasksRepo, makeTasksRepo)
}
