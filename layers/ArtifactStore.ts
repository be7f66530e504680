import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Data, Effect, Layer, Option, Ref, Schema } from "effect"

/**
 * Where artifact bytes live, by key (`<task_id>/<job_id>/<path>`); the list of a task's artifacts is always in
 * PostgreSQL (`task_artifacts`). The default store keeps the bytes in PostgreSQL (`artifact_blobs`); an
 * S3-compatible store implements the same three calls over a bucket, and nothing else changes.
 */

export class ArtifactStoreError extends Data.TaggedError("ArtifactStoreError")<{ readonly message: string }> {}

export interface ArtifactStoreShape {
  readonly put: (key: string, bytes: Uint8Array) => Effect.Effect<void, ArtifactStoreError>
  readonly get: (key: string) => Effect.Effect<Option.Option<Uint8Array>, ArtifactStoreError>
  readonly remove: (key: string) => Effect.Effect<void, ArtifactStoreError>
}

const storeError = (what: string) => (e: unknown) =>
  new ArtifactStoreError({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

export const makePostgresStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const blob = SqlSchema.findOne({
    Request: Schema.String,
    /** bytea: a Buffer from the driver. */
    Result: Schema.Struct({ content: Schema.Uint8ArrayFromSelf }),
    execute: (key) => sql`SELECT content FROM artifact_blobs WHERE key = ${key}`
  })
  return {
    put: (key, bytes) =>
      sql`INSERT INTO artifact_blobs (key, content) VALUES (${key}, ${Buffer.from(bytes)})
          ON CONFLICT (key) DO UPDATE SET content = EXCLUDED.content`.pipe(Effect.asVoid, Effect.mapError(storeError("storing an artifact"))),
    get: (key) =>
      blob(key).pipe(
        Effect.map(Option.map((row) => row.content)),
        Effect.mapError(storeError("reading an artifact"))
      ),
    remove: (key) =>
      sql`DELETE FROM artifact_blobs WHERE key = ${key}`.pipe(Effect.asVoid, Effect.mapError(storeError("removing an artifact")))
  } satisfies ArtifactStoreShape
})

/**
 * Bytes in a map in this process, gone when it ends: for tests that exercise what uses the store, not PostgreSQL.
 * Copies go in and out, as they would through a real store, so a caller's later writes to its buffer change nothing.
 */
export const makeMemoryStore = Effect.map(Ref.make(new Map<string, Uint8Array>()), (blobs) => ({
  put: (key, bytes) => Ref.update(blobs, (m) => new Map(m).set(key, Uint8Array.from(bytes))),
  get: (key) => Ref.get(blobs).pipe(Effect.map((m) => Option.map(Option.fromNullable(m.get(key)), (b) => Uint8Array.from(b)))),
  remove: (key) =>
    Ref.update(blobs, (m) => {
      const next = new Map(m)
      next.delete(key)
      return next
    })
}) satisfies ArtifactStoreShape)

export class ArtifactStore extends Context.Tag("cynode/ArtifactStore")<ArtifactStore, ArtifactStoreShape>() {
  /** Bytes in PostgreSQL beside the rest (the default). */
  static readonly Postgres = Layer.effect(ArtifactStore, makePostgresStore)
  /** Bytes in memory (tests only); each build of the layer starts empty. */
  static readonly Memory = Layer.effect(ArtifactStore, makeMemoryStore)
}
