import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Live output and artifacts. `task_output` holds a job's output as it arrives from the node: `id` (a bigserial) is
 * the resume point readers see (SSE event ids); per task it grows in write order because one relay at a time writes
 * a job's chunks. `(job_id, seq)` is the node's own numbering and keeps a resumed relay from storing a chunk twice.
 * Writers NOTIFY `cynode_task_output` with the task id in the same statement.
 *
 * `task_artifacts` lists the files a job left under /workspace/out; their bytes live behind the ArtifactStore
 * (`storage_key`): in `artifact_blobs` for the PostgreSQL store, elsewhere for another store.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE TABLE task_output (
      id bigserial PRIMARY KEY,
      task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
      job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      stream text NOT NULL,
      data text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT task_output_job_seq_key UNIQUE (job_id, seq),
      CONSTRAINT task_output_stream_check CHECK (stream IN ('stdout', 'stderr'))
    )`
  yield* sql`CREATE INDEX task_output_task_idx ON task_output (task_id, id)`

  yield* sql`
    CREATE TABLE artifact_blobs (
      key text PRIMARY KEY,
      content bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`

  yield* sql`
    CREATE TABLE task_artifacts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
      job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
      path text NOT NULL,
      size_bytes bigint NOT NULL,
      content_type text NOT NULL,
      sha256 text NOT NULL,
      storage_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT task_artifacts_task_path_key UNIQUE (task_id, path),
      CONSTRAINT task_artifacts_size_check CHECK (size_bytes >= 0)
    )`
  yield* sql`CREATE INDEX task_artifacts_job_idx ON task_artifacts (job_id)`
  yield* sql`
    CREATE TRIGGER task_artifacts_updated_at BEFORE UPDATE ON task_artifacts
    FOR EACH ROW EXECUTE FUNCTION cynode_set_updated_at()`
})
