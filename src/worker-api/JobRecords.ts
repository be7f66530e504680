import { Data, Effect, Option, Schema } from "effect"
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { isIdentifier, type Identifier } from "../../schema/ids.ts"
import { toPreciseTimestamp } from "../../schema/time.ts"
import { JobRecord, WORKER_PAYLOAD_VERSION, type RunJobResponse } from "../../schema/worker.ts"
import { ensureJobDir } from "./Workspace.ts"

/**
 * Job records (worker-node.md §6, DECISIONS.md "Dispatch across restarts"): `<mount_root>/<job_id>/job.json`, beside
 * `workspace/` and never mounted. `running` is written before anything is created, the finished response after.
 * Writes go through a temporary file and `rename`, so a crash never leaves half a record.
 */

export const RECORD_FILE = "job.json"

const JobStatusJson = Schema.parseJson(JobRecord)
const encodeRecord = Schema.encodeSync(JobStatusJson)
const decodeRecord = Schema.decodeUnknownOption(JobStatusJson)

export class RecordError extends Data.TaggedError("RecordError")<{ readonly message: string }> {}

const recordPath = (mountRoot: string, jobId: string) => join(mountRoot, jobId, RECORD_FILE)

/** The stored record, if any. An unreadable or corrupt record counts as absent (and is logged). */
export const readRecord = (mountRoot: string, jobId: Identifier): Effect.Effect<Option.Option<JobRecord>> =>
  Effect.tryPromise(() => readFile(recordPath(mountRoot, jobId), "utf8")).pipe(
    Effect.map(decodeRecord),
    Effect.tap((record) =>
      Option.isNone(record) ? Effect.logWarning("job record is corrupt; ignored").pipe(Effect.annotateLogs("job_id", jobId)) : Effect.void
    ),
    Effect.catchAll(() => Effect.succeed(Option.none<JobRecord>()))
  )

export const writeRecord = (mountRoot: string, record: JobRecord) =>
  Effect.flatMap(ensureJobDir(mountRoot, record.job_id), (dir) =>
    Effect.tryPromise({
      try: async () => {
        const tmp = join(dir, `${RECORD_FILE}.tmp`)
        await writeFile(tmp, encodeRecord(record), { mode: 0o600 })
        await rename(tmp, join(dir, RECORD_FILE))
      },
      catch: (cause) => new RecordError({ message: `cannot write the job record of ${record.job_id}: ${String(cause)}` })
    })).pipe(Effect.mapError((e) => e._tag === "WorkspaceError" ? new RecordError({ message: e.message }) : e))

/** Every job directory name under the mount root that is a valid identifier. */
const jobIds = (mountRoot: string) =>
  Effect.tryPromise(() => readdir(mountRoot, { withFileTypes: true })).pipe(
    Effect.map((entries) => entries.filter((e) => e.isDirectory() && isIdentifier(e.name)).map((e) => e.name as Identifier)),
    Effect.orElseSucceed((): ReadonlyArray<Identifier> => [])
  )

export const RESTART_LINE = "cynode-worker: interrupted by node restart"

/** At startup: records still `running` belong to a previous process, so they become `failed`, exit -1. */
export const closeStaleRecords = (mountRoot: string) =>
  Effect.gen(function*() {
    let closed = 0
    for (const jobId of yield* jobIds(mountRoot)) {
      const record = yield* readRecord(mountRoot, jobId)
      if (Option.isNone(record) || record.value.status !== "running") continue
      const failed: RunJobResponse = {
        version: WORKER_PAYLOAD_VERSION,
        task_id: record.value.task_id,
        job_id: record.value.job_id,
        status: "failed",
        exit_code: -1,
        stdout: "",
        stderr: `${RESTART_LINE}\n`,
        started_at: record.value.started_at,
        ended_at: toPreciseTimestamp(new Date()),
        truncated: { stdout: false, stderr: false }
      }
      yield* writeRecord(mountRoot, failed).pipe(
        Effect.tapError((e) => Effect.logError("cannot close a stale job record", e.message)),
        Effect.ignore
      )
      closed++
    }
    return closed
  })

/**
 * Removes job directories older than the retention period: finished records by `ended_at`, directories without a
 * readable record by modification time. Jobs in `isActive` are never touched.
 */
export const sweepExpired = (mountRoot: string, retentionMs: number, now: Date, isActive: (jobId: string) => boolean) =>
  Effect.gen(function*() {
    let swept = 0
    for (const jobId of yield* jobIds(mountRoot)) {
      if (isActive(jobId)) continue
      const record = yield* readRecord(mountRoot, jobId)
      const finishedAt = Option.isSome(record)
        ? record.value.status === "running" ? undefined : Date.parse(record.value.ended_at)
        : yield* Effect.tryPromise(() => stat(join(mountRoot, jobId))).pipe(
          Effect.map((s) => s.mtimeMs),
          Effect.orElseSucceed(() => undefined)
        )
      if (finishedAt === undefined || now.getTime() - finishedAt < retentionMs) continue
      yield* Effect.tryPromise(() => rm(join(mountRoot, jobId), { recursive: true, force: true })).pipe(
        Effect.tap(() => Effect.sync(() => swept++)),
        Effect.tapError(() => Effect.logWarning("cannot sweep a job directory").pipe(Effect.annotateLogs("job_id", jobId))),
        Effect.ignore
      )
    }
    return swept
  })
