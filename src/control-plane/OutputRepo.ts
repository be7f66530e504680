import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { storableText } from "../../schema/result.ts"
import type { OutputChunkLine } from "../../schema/worker.ts"

/**
 * Live output rows (`task_output`): the relay appends what a node streams while the job is open, and the job's
 * finish completes them from its stored result (whatever the stream missed: an inference answer, the node's own
 * closing line, output lost while the connection was down), so that the rows always end up spelling the job's final
 * output, each piece once.
 *
 * The two never interleave: an append locks the job row (FOR SHARE) and stores nothing once the job has ended, and
 * the completion runs in the finish's transaction after the job row is marked ended. So the completion sees every
 * chunk stored before it, and no chunk lands after it (which would store a piece twice, numbered differently).
 */
export const OUTPUT_CHANNEL = "cynode_task_output"

export interface OutputJob {
  readonly id: string
  readonly taskId: string
}

const textOf = (result: unknown, key: string): string => {
  if (typeof result !== "object" || result === null || !(key in result)) return ""
  const value: unknown = (result as Record<string, unknown>)[key]
  return typeof value === "string" ? value : ""
}

const storable = (c: OutputChunkLine) => ({ seq: c.seq, stream: c.stream, text: storableText(c.text) })

export const makeOutputRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /**
   * Stores the chunks (a chunk already stored is skipped) and wakes the task's followers, in one statement; nothing
   * once the job has ended.
   */
  const append = (job: OutputJob, chunks: ReadonlyArray<OutputChunkLine>) =>
    chunks.length === 0 ? Effect.void : sql`
      WITH open AS (SELECT id FROM jobs WHERE id = ${job.id} AND ended_at IS NULL FOR SHARE),
      ins AS (
        INSERT INTO task_output (task_id, job_id, seq, stream, data)
        SELECT ${job.taskId}, open.id, c.seq, c.stream, c.text
        FROM open, jsonb_to_recordset(${JSON.stringify(chunks.map(storable))}::jsonb) AS c(seq int, stream text, text text)
        ON CONFLICT (job_id, seq) DO NOTHING
        RETURNING 1)
      SELECT pg_notify(${OUTPUT_CHANNEL}, ${job.taskId}) WHERE EXISTS (SELECT 1 FROM ins)`.pipe(
      Effect.asVoid,
      Effect.withSpan("OutputRepo.append")
    )

  const maxSeq = SqlSchema.single({
    Request: Schema.String,
    /** `max` of an integer column: a number, null when the job has no rows. */
    Result: Schema.Struct({ seq: Schema.NullOr(Schema.Number) }),
    execute: (jobId) => sql`SELECT max(seq) AS seq FROM task_output WHERE job_id = ${jobId}`
  })

  /** The last sequence number stored for the job (0 when none): where a relay resumes. */
  const lastSeq = (jobId: string) => maxSeq(jobId).pipe(Effect.map((row) => row.seq ?? 0))

  /**
   * Appends what the final result holds beyond the stored chunks, per stream (stdout first), numbered after the last
   * stored chunk. When the stored text is not a prefix of the final one (the node cut its output differently),
   * nothing is added: the rows stay what was seen live. One statement: read, compare, insert and NOTIFY. Called by
   * the job's finish, in its transaction, after the job row is marked ended.
   */
  const complete = (job: OutputJob, result: unknown) => {
    const stdout = storableText(textOf(result, "stdout"))
    const stderr = storableText(textOf(result, "stderr") || textOf(result, "error"))
    return sql`
      WITH stored AS (
        SELECT f.ord, f.stream, f.final, COALESCE(string_agg(o.data, '' ORDER BY o.seq), '') AS seen
        FROM (VALUES (1, 'stdout', ${stdout}::text), (2, 'stderr', ${stderr}::text)) AS f(ord, stream, final)
          LEFT JOIN task_output o ON o.job_id = ${job.id} AND o.stream = f.stream
        GROUP BY f.ord, f.stream, f.final),
      missing AS (
        SELECT stream, substr(final, length(seen) + 1) AS data, row_number() OVER (ORDER BY ord) AS k
        FROM stored WHERE length(final) > length(seen) AND starts_with(final, seen)),
      last AS (SELECT COALESCE(max(seq), 0) AS seq FROM task_output WHERE job_id = ${job.id}),
      ins AS (
        INSERT INTO task_output (task_id, job_id, seq, stream, data)
        SELECT ${job.taskId}, ${job.id}, last.seq + missing.k, missing.stream, missing.data FROM missing, last
        ON CONFLICT (job_id, seq) DO NOTHING
        RETURNING 1)
      SELECT pg_notify(${OUTPUT_CHANNEL}, ${job.taskId}) WHERE EXISTS (SELECT 1 FROM ins)`.pipe(
      Effect.asVoid,
      Effect.withSpan("OutputRepo.complete")
    )
  }

  return { append, lastSeq, complete }
})

export type OutputRepo = Effect.Effect.Success<typeof makeOutputRepo>
