import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import { ArtifactStore } from "../../layers/ArtifactStore.ts"
import { artifactKey, makeArtifactsIngest } from "../../src/control-plane/ArtifactsIngest.ts"
import { addJob } from "../support/jobRows.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * ArtifactsIngest through the in-memory ArtifactStore: the bytes land in the store under their keys, the list in
 * `task_artifacts` (a real PostgreSQL), and the result that is kept loses the content but keeps the rest.
 */

const TestLayer = Layer.merge(TestDatabase.layer, ArtifactStore.Memory)


const file = (path: string, content: string) => {
  const bytes = Buffer.from(content)
  return {
    path,
    size_bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    content_base64: bytes.toString("base64")
  }
}

const ingest = Effect.flatMap(ArtifactStore, makeArtifactsIngest)

it.layer(TestLayer, { timeout: 60_000 })("ArtifactsIngest", (it) => {
  describe("a response with artifacts", () => {
    it.effect("moves each file's bytes into the store and lists it in task_artifacts", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* ArtifactStore
        const job = yield* addJob({})
        const files = [file("report.md", "# done\n"), file("data/out.json", "{\"n\":1}")]
        const refused = [{ path: "link", reason: "symlink" }]
        const stored = yield* (yield* ingest)(job, { exit_code: 0, stdout: "ok", artifacts: { files, refused } })

        expect(stored).toEqual({
          exit_code: 0,
          stdout: "ok",
          artifacts: { files: files.map((f) => ({ path: f.path, size_bytes: f.size_bytes, sha256: f.sha256 })), refused }
        })
        expect(JSON.stringify(stored)).not.toContain("content_base64")
        for (const f of files) {
          const bytes = yield* store.get(artifactKey(job.taskId, job.id, f.path))
          expect(Option.map(bytes, (b) => Buffer.from(b).toString("base64"))).toEqual(Option.some(f.content_base64))
        }
        const rows = yield* sql<{ path: string; size_bytes: string; content_type: string; sha256: string; storage_key: string }>`
          SELECT path, size_bytes::text, content_type, sha256, storage_key FROM task_artifacts
          WHERE job_id = ${job.id} ORDER BY path`
        expect(rows).toEqual([
          { path: "data/out.json", size_bytes: String(files[1]!.size_bytes), content_type: "application/json", sha256: files[1]!.sha256, storage_key: artifactKey(job.taskId, job.id, "data/out.json") },
          { path: "report.md", size_bytes: String(files[0]!.size_bytes), content_type: "text/markdown; charset=utf-8", sha256: files[0]!.sha256, storage_key: artifactKey(job.taskId, job.id, "report.md") }
        ])
        // Nothing went to PostgreSQL's own blob table: the configured store got the bytes.
        const blobs = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM artifact_blobs`
        expect(blobs[0]!.n).toBe(0)
      }))

    it.effect("a second job of the task replaces a path's bytes and row", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* ArtifactStore
        const first = yield* addJob({})
        const [second] = yield* sql<{ id: string }>`
          INSERT INTO jobs (task_id, payload) VALUES (${first.taskId}, '{}'::jsonb) RETURNING id::text AS id`
        const run = yield* ingest
        yield* run(first, { artifacts: { files: [file("a.txt", "one")], refused: [] } })
        yield* run({ id: second!.id, taskId: first.taskId }, { artifacts: { files: [file("a.txt", "two!")], refused: [] } })

        const rows = yield* sql<{ job_id: string; size_bytes: string }>`
          SELECT job_id::text, size_bytes::text FROM task_artifacts WHERE task_id = ${first.taskId}`
        expect(rows).toEqual([{ job_id: second!.id, size_bytes: "4" }])
        const bytes = yield* store.get(artifactKey(first.taskId, second!.id, "a.txt"))
        expect(Option.map(bytes, (b) => Buffer.from(b).toString())).toEqual(Option.some("two!"))
      }))
  })

  describe("a response without readable artifacts", () => {
    it.effect("is returned as it is, and nothing is stored", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* ArtifactStore
        const job = yield* addJob({})
        const run = yield* ingest
        const plain = { exit_code: 1 }
        const unreadable = { artifacts: { files: [{ path: "../escape", size_bytes: 1, sha256: "x", content_base64: "eA==" }], refused: [] } }
        expect(yield* run(job, plain)).toBe(plain)
        expect(yield* run(job, unreadable)).toBe(unreadable)
        expect(yield* run(job, null)).toBe(null)
        const rows = yield* sql`SELECT 1 FROM task_artifacts WHERE job_id = ${job.id}`
        expect(rows).toEqual([])
        expect(yield* store.get(artifactKey(job.taskId, job.id, "../escape"))).toEqual(Option.none())
      }))
  })
})

describe("ArtifactStore.Memory", () => {
  it.effect("puts, gets and removes by key, keeping its own copy of the bytes", () =>
    Effect.gen(function*() {
      const store = yield* ArtifactStore
      const bytes = new Uint8Array([1, 2, 3])
      yield* store.put("t/j/a", bytes)
      bytes[0] = 9
      expect(yield* store.get("t/j/a")).toEqual(Option.some(new Uint8Array([1, 2, 3])))
      expect(yield* store.get("t/j/b")).toEqual(Option.none())
      yield* store.remove("t/j/a")
      expect(yield* store.get("t/j/a")).toEqual(Option.none())
    }).pipe(Effect.provide(ArtifactStore.Memory)))
})
