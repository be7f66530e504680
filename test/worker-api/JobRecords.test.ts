import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Identifier } from "../../schema/ids.ts"
import type { JobRecord } from "../../schema/worker.ts"
import { closeStaleRecords, readRecord, sweepExpired, writeRecord } from "../../src/worker-api/JobRecords.ts"

const id = (s: string) => s as Identifier
const tempRoot = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "cynode-records-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const finishedAt = (jobId: string, endedAt: Date): JobRecord => ({
  version: 1,
  task_id: id("task"),
  job_id: id(jobId),
  status: "completed",
  exit_code: 0,
  stdout: "",
  stderr: "",
  started_at: endedAt.toISOString(),
  ended_at: endedAt.toISOString(),
  truncated: { stdout: false, stderr: false }
})

describe("job records", () => {
  it.scoped("round-trip, and a corrupt record reads as absent", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const record = finishedAt("job-1", new Date())
      yield* writeRecord(root, record)
      expect(yield* readRecord(root, id("job-1"))).toEqual(Option.some(record))
      mkdirSync(join(root, "job-2"))
      writeFileSync(join(root, "job-2", "job.json"), "{not json")
      expect(Option.isNone(yield* readRecord(root, id("job-2")))).toBe(true)
      expect(Option.isNone(yield* readRecord(root, id("job-3")))).toBe(true)
    }))

  it.scoped("close stale running records and sweep only expired, inactive job directories", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const now = new Date("2026-03-02T12:00:00Z")
      yield* writeRecord(root, finishedAt("old", new Date("2026-03-01T11:00:00Z")))
      yield* writeRecord(root, finishedAt("recent", new Date("2026-03-02T11:00:00Z")))
      yield* writeRecord(root, finishedAt("busy", new Date("2026-03-01T00:00:00Z")))
      yield* writeRecord(root, { version: 1, task_id: id("t"), job_id: id("stale"), status: "running", started_at: "2026-03-01T10:00:00.000Z" })
      expect(yield* closeStaleRecords(root)).toBe(1)
      const stale = yield* readRecord(root, id("stale"))
      expect(Option.getOrThrow(stale)).toMatchObject({ status: "failed", exit_code: -1, stderr: "cynode-worker: interrupted by node restart\n" })
      const swept = yield* sweepExpired(root, 24 * 3_600_000, now, (jobId) => jobId === "busy")
      expect(swept).toBe(1)
      expect(existsSync(join(root, "old"))).toBe(false)
      expect(existsSync(join(root, "recent"))).toBe(true)
      expect(existsSync(join(root, "busy"))).toBe(true)
      expect(existsSync(join(root, "stale"))).toBe(true)
    }))
})
