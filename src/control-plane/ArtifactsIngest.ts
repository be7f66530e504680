import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import type { ArtifactStoreShape } from "../../layers/ArtifactStore.ts"
import { CollectedArtifacts, contentTypeOf } from "../../schema/artifacts.ts"

/**
 * Moves the artifacts a node sent in a job's response into the ArtifactStore and `task_artifacts`, and returns the
 * result to store without their content (the list of paths, sizes and refusals stays in it). A response without
 * artifacts, or with an unreadable artifacts field, is returned as it is.
 */

const decode = Schema.decodeUnknownOption(CollectedArtifacts)

export const artifactKey = (taskId: string, jobId: string, path: string) => `${taskId}/${jobId}/${path}`

export const makeArtifactsIngest = (store: ArtifactStoreShape) =>
  Effect.map(SqlClient.SqlClient, (sql) => (job: { readonly id: string; readonly taskId: string }, result: unknown) =>
    Effect.gen(function*() {
      if (typeof result !== "object" || result === null || !("artifacts" in result)) return result
      const collected = decode((result as { readonly artifacts: unknown }).artifacts)
      if (collected._tag === "None") return result
      for (const file of collected.value.files) {
        const key = artifactKey(job.taskId, job.id, file.path)
        yield* store.put(key, Buffer.from(file.content_base64, "base64"))
        yield* sql`
          INSERT INTO task_artifacts (task_id, job_id, path, size_bytes, content_type, sha256, storage_key)
          VALUES (${job.taskId}, ${job.id}, ${file.path}, ${file.size_bytes}, ${contentTypeOf(file.path)}, ${file.sha256}, ${key})
          ON CONFLICT (task_id, path) DO UPDATE SET job_id = EXCLUDED.job_id, size_bytes = EXCLUDED.size_bytes,
            content_type = EXCLUDED.content_type, sha256 = EXCLUDED.sha256, storage_key = EXCLUDED.storage_key`
      }
      return {
        ...result,
        artifacts: {
          files: collected.value.files.map((f) => ({ path: f.path, size_bytes: f.size_bytes, sha256: f.sha256 })),
          refused: collected.value.refused
        }
      }
    }).pipe(Effect.withSpan("ArtifactsIngest")))
