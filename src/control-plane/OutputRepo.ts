import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { OutputChunkLine } from "../../schema/worker.ts"

/**
 * Live output rows (`task_output`): the relay appends what a node streams, and when a job ends its stored result
 * fills in whatever the stream missed (an inference answer, the node's own closing line, output lost while the
 * connection was down), so that the rows always end up spelling the job's final output.
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

export const makeOutputRepo = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  /** Stores the chunks (a chunk already stored is skipped) and wakes the task's followers, in one statement. */
  const append = (job: OutputJob, chunks: ReadonlyArray<OutputChunkLine>) =>
    chunks.length === 0 ? Effect.void : sql`
      WITH ins AS (
        INSERT INTO task_output ${
      sql.insert(chunks.map((c) => ({ task_id: job.taskId, job_id: job.id, seq: c.seq, stream: c.stream, data: c.text })))
    }
        ON CONFLICT (job_id, seq) DO NOTHING
        RETURNING 1)
      SELECT pg_notify(${OUTPUT_CHANNEL}, ${job.taskId}) WHERE EXISTS (SELECT 1 FROM ins)`.pipe(
      Effect.asVoid,
      Effect.withSpan("OutputRepo.append")
    )

  /** The last sequence number stored for the job (0 when none): where a relay resumes. */
  const lastSeq = (jobId: string) =>
    sql<{ readonly seq: number | null }>`SELECT max(seq) AS seq FROM task_output WHERE job_id = ${jobId}`.pipe(
      Effect.map((rows) => rows[0]?.seq ?? 0)
    )

  /**
   * Appends what the final result holds beyond the stored chunks, per stream (stdout first), numbered after the last
   * stored chunk. When the stored text is not a prefix of the final one (the node cut its output differently),
   * nothing is added: the rows stay what was seen live. One statement: read, compare, insert and NOTIFY.
   */
  const complete = (job: OutputJob, result: unknown) => {
    const stdout = textOf(result, "stdout")
    const stderr = textOf(result, "stderr") || textOf(result, "error")
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
