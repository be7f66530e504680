import { SqlClient, SqlSchema } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Chunk, Context, Duration, Effect, Layer, Option, PubSub, Queue, Schedule, Schema, Stream } from "effect"
import type { LogEndData } from "../../schema/task.ts"
import { TASKS_CHANNEL } from "./TaskCompletions.ts"
import { toApiStatus } from "./TasksRepo.ts"

/**
 * Following a task's output (docs/decisions.md "Live output"): the rows the control plane stores as a job runs, read
 * from PostgreSQL after a resume point and woken by NOTIFY, never by calling a node. One LISTEN per process on the
 * output channel and on the task channel fans out to every follower; a slow poll covers a notification lost while
 * reconnecting. Once the task is over and every row before its end is read, the follower gets `End`.
 */

export const OUTPUT_CHANNEL = "cynode_task_output"
const PAGE = 500
const POLL_EVERY = Duration.seconds(2)
/** Idle polls between keep-alives (about 14 s). */
const KEEP_ALIVE_POLLS = 7

export type OutputEvent =
  | { readonly _tag: "Output"; readonly id: number; readonly stream: "stdout" | "stderr"; readonly text: string }
  | { readonly _tag: "End"; readonly end: LogEndData }
  | { readonly _tag: "KeepAlive" }

/** A stored output row; `id` is a bigserial, read as text. */
const OutputRow = Schema.Struct({
  id: Schema.String,
  stream: Schema.Literal("stdout", "stderr"),
  data: Schema.String
}).annotations({ identifier: "OutputRow" })

const EndingRow = Schema.Struct({
  status: Schema.String,
  closed: Schema.Boolean,
  exit_code: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "EndingRow" })

export class TaskOutput extends Context.Tag("cynode/user-gateway/TaskOutput")<TaskOutput, {
  /** Events after `after` (0: from the start), live, until the task's end. */
  readonly follow: (taskId: string, after: number) => Stream.Stream<OutputEvent, unknown>
}>() {
  static readonly Live = Layer.scoped(
    TaskOutput,
    Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const sql = yield* SqlClient.SqlClient
      const wakes = yield* PubSub.sliding<string>(4096)
      for (const channel of [OUTPUT_CHANNEL, TASKS_CHANNEL]) {
        yield* pg.listen(channel).pipe(
          Stream.runForEach((taskId) => PubSub.publish(wakes, taskId)),
          Effect.tapErrorCause((cause) => Effect.logWarning(`LISTEN ${channel} failed; retrying`, cause)),
          Effect.retry(Schedule.exponential("500 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))),
          Effect.forkScoped
        )
      }

      const outputAfter = SqlSchema.findAll({
        Request: Schema.Struct({ taskId: Schema.String, after: Schema.Number }),
        Result: OutputRow,
        execute: ({ after, taskId }) =>
          sql`
            SELECT id::text AS id, stream, data FROM task_output -- ordered by the column: as text, 10 sorts before 9
            WHERE task_id = ${taskId} AND id > ${after} ORDER BY task_output.id LIMIT ${PAGE}`
      })

      const rowsAfter = (taskId: string, after: number) =>
        outputAfter({ taskId, after }).pipe(
          Effect.map((rows) => rows.map((r): OutputEvent => ({ _tag: "Output", id: Number(r.id), stream: r.stream, text: r.data })))
        )

      const endingOf = SqlSchema.findOne({
        Request: Schema.String,
        Result: EndingRow,
        execute: (taskId) =>
          sql`
            SELECT t.status, t.closed,
              (SELECT CASE WHEN jsonb_typeof(j.result->'exit_code') = 'number' THEN (j.result->>'exit_code')::int END
               FROM jobs j WHERE j.task_id = t.id ORDER BY j.created_at DESC LIMIT 1) AS exit_code
            FROM tasks t WHERE t.id = ${taskId}`
      })

      /** A vanished task ends as `canceled`. */
      const ending = (taskId: string) =>
        endingOf(taskId).pipe(
          Effect.map(Option.match({
            onNone: () => Option.some<LogEndData>({ status: "canceled", exit_code: null }),
            onSome: (row) =>
              row.closed ? Option.some<LogEndData>({ status: toApiStatus(row.status), exit_code: row.exit_code }) : Option.none()
          }))
        )

      const follow = (taskId: string, after: number) =>
        Stream.unwrapScoped(
          Effect.gen(function*() {
            // Subscribed before the first read, so a wake-up between the read and the wait is not lost.
            const queue = yield* PubSub.subscribe(wakes)
            const woken = Queue.take(queue).pipe(Effect.repeat({ until: (id) => id === taskId }), Effect.as(true))
            const wait = Effect.raceFirst(woken, Effect.as(Effect.sleep(POLL_EVERY), false))
            type State = { readonly after: number; readonly idle: number; readonly done: boolean }
            return Stream.unfoldChunkEffect<State, OutputEvent, unknown, never>({ after, idle: 0, done: false }, (state) =>
              Effect.gen(function*() {
                if (state.done) return Option.none()
                const rows = yield* rowsAfter(taskId, state.after)
                if (rows.length > 0) {
                  const last = rows[rows.length - 1] as { readonly id: number }
                  return Option.some([Chunk.fromIterable(rows), { after: last.id, idle: 0, done: false }] as const)
                }
                // The task's end is committed after its last row: read once more after seeing it, then end.
                const end = yield* ending(taskId)
                if (Option.isSome(end)) {
                  const late = yield* rowsAfter(taskId, state.after)
                  if (late.length > 0) return Option.some([Chunk.fromIterable(late), { ...state, after: (late[late.length - 1] as { readonly id: number }).id }] as const)
                  return Option.some([Chunk.of<OutputEvent>({ _tag: "End", end: end.value }), { ...state, done: true }] as const)
                }
                const notified = yield* wait
                const idle = notified ? 0 : state.idle + 1
                if (idle >= KEEP_ALIVE_POLLS) return Option.some([Chunk.of<OutputEvent>({ _tag: "KeepAlive" }), { ...state, idle: 0 }] as const)
                return Option.some([Chunk.empty<OutputEvent>(), { ...state, idle }] as const)
              }))
          })
        )

      return { follow }
    })
  )
}
