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
   * Appends what the final result holds beyond the stored chunks, per stream. When the stored text is not a prefix
   * of the final one (the node cut its output differently), nothing is added: the rows stay what was seen live.
   */
  const complete = (job: OutputJob, result: unknown) =>
    Effect.gen(function*() {
      const rows = yield* sql<{ readonly stream: "stdout" | "stderr"; readonly text: string; readonly seq: number }>`
        SELECT stream, string_agg(data, '' ORDER BY seq) AS text, max(seq) AS seq
        FROM task_output WHERE job_id = ${job.id} GROUP BY stream`
      let seq = rows.reduce((m, r) => Math.max(m, r.seq), 0)
      const stored = (stream: "stdout" | "stderr") => rows.find((r) => r.stream === stream)?.text ?? ""
      const finals = { stdout: textOf(result, "stdout"), stderr: textOf(result, "stderr") || textOf(result, "error") }
      const missing: Array<OutputChunkLine> = []
      for (const stream of ["stdout", "stderr"] as const) {
        const seen = stored(stream)
        const final = finals[stream]
        if (final.length > seen.length && final.startsWith(seen)) missing.push({ seq: ++seq, stream, text: final.slice(seen.length) })
      }
      yield* append(job, missing)
    }).pipe(Effect.withSpan("OutputRepo.complete"))

  return { append, lastSeq, complete }
})

export type OutputRepo = Effect.Effect.Success<typeof makeOutputRepo>
