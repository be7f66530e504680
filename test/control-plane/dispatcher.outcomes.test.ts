import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import { DispatcherCore, DispatcherStatus } from "../../src/control-plane/Dispatcher.ts"
import { DispatchSettings, type DispatchSettingsShape } from "../../src/control-plane/DispatchSettings.ts"
import { DispatchWakeup } from "../../src/control-plane/DispatchWakeup.ts"
import { JobsRepo } from "../../src/control-plane/JobsRepo.ts"
import { RunOutcome, StatusOutcome, WorkerClient, type RunBody, type WorkerScript } from "../../src/control-plane/WorkerClient.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import type { RunJobResponse } from "../../schema/worker.ts"
import { addJob } from "../support/jobRows.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * The dispatcher's failure table (control-plane.md §9) in process: the real dispatcher and repository on a real
 * PostgreSQL, with a scripted worker (WorkerClient.Test) answering each job as its command's first word says.
 */

const settings: DispatchSettingsShape = {
  enabled: true,
  pollIntervalMs: 100,
  concurrency: 4,
  nodeMaxInflight: 4,
  maxAttempts: 3,
  deadlineGraceMs: 30_000,
  maxJobTimeoutSeconds: 60,
  leaseTtlMs: 5_000,
  leaseRenewMs: 1_000,
  sandboxImage: "localhost/cynode-sandbox:latest",
  inferenceModel: "standin:latest"
}

const tokens = WorkerTokens.fromKey(new Uint8Array(randomBytes(32)))

const response = (body: RunBody, stdout: string): RunJobResponse => ({
  version: 1,
  // Ids from the request, which the dispatcher made from its own rows.
  task_id: body.task_id as RunJobResponse["task_id"],
  job_id: body.job_id as RunJobResponse["job_id"],
  status: "completed",
  exit_code: 0,
  stdout,
  stderr: "",
  started_at: "2026-03-01T10:01:00.120Z",
  ended_at: "2026-03-01T10:01:00.655Z",
  truncated: { stdout: false, stderr: false }
})

const finished = (body: RunBody, stdout: string) => {
  const r = response(body, stdout)
  return RunOutcome.Finished({ raw: r, response: r })
}

/** Each `run` call the worker got: the job and when (ms since the epoch). */
interface Call {
  readonly jobId: string
  readonly word: string
  readonly at: number
}

/** The script: what each command word makes the worker answer, on the nth call for that job. */
const scriptOf = (calls: Array<Call>): WorkerScript => ({
  run: (body) =>
    Effect.sync(() => {
      const word = "sandbox" in body ? body.sandbox.command[0] ?? "" : ""
      const nth = calls.filter((c) => c.jobId === body.job_id).length
      calls.push({ jobId: body.job_id, word, at: Date.now() })
      switch (word) {
        case "ok":
          return finished(body, "ran\n")
        case "reject":
          return RunOutcome.Rejected({ status: 422, problemType: "urn:cynodeai:error:validation", detail: "image not allowed" })
        case "not-sent-once":
          return nth === 0 ? RunOutcome.NotSent({ reason: "worker unreachable: ECONNREFUSED" }) : finished(body, "second try\n")
        case "busy":
          return RunOutcome.RateLimited({ retryAfterMs: 60_000, reason: "worker busy (429)" })
        case "token":
          return RunOutcome.AuthRefused({ reason: "bad token" })
        case "lost":
        case "lost-unknown":
          return RunOutcome.Uncertain({ reason: "connection lost after sending" })
        default:
          return RunOutcome.Unknown({ reason: "no answer before the job's deadline" })
      }
    }),
  status: (jobId) =>
    Effect.sync(() => {
      const call = calls.find((c) => c.jobId === jobId)
      if (call?.word !== "lost") return StatusOutcome.NotFound()
      const r = { ...response({ version: 1, task_id: "", job_id: jobId, sandbox: { image: "", command: ["lost"] } }, "from status\n") }
      return StatusOutcome.Finished({ raw: r, response: r })
    })
})

/** A fresh database, one dispatchable node, and the dispatcher running against the scripted worker. */
const dispatcherWith = (calls: Array<Call>) =>
  DispatcherCore.pipe(
    Layer.provideMerge(Layer.mergeAll(JobsRepo.Live, WorkerClient.Test(scriptOf(calls)))),
    Layer.provideMerge(Layer.mergeAll(
      TestDatabase.layer,
      Layer.succeed(WorkerTokens, tokens),
      Layer.succeed(DispatchSettings, settings),
      DispatchWakeup.Default,
      DispatcherStatus.Default
    ))
  )

const addNode = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`
    INSERT INTO nodes (node_slug, status, config_version, issued_config_version, issued_inference, config_ack_status,
      worker_api_target_url, worker_api_bearer_token)
    VALUES ('node-01', 'active', 'v2', 'v2', true, 'applied', 'http://node-01.test:12090/',
      ${tokens.encrypt(Redacted.make("token-node-01"))})`)

/** A queued job running `command`, and a wake-up for the dispatcher. */
const queueJob = (command: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const job = yield* addJob({ command })
    yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT pg_notify('cynode_jobs', ${job.id})`)
    return job.id
  })

interface JobRow {
  readonly status: string
  readonly attempts: number
  readonly result: Record<string, unknown> | null
  readonly not_before: Date | null
  readonly task_status: string
}

const rowOf = (jobId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<JobRow>`
      SELECT j.status, j.attempts, j.result, j.not_before, t.status AS task_status
      FROM jobs j JOIN tasks t ON t.id = j.task_id WHERE j.id = ${jobId}`).pipe(Effect.map((rows) => rows[0]!))

/** The job's row once `done` holds (within 10 s). */
const rowWhen = (jobId: string, done: (row: JobRow) => boolean) =>
  rowOf(jobId).pipe(
    Effect.filterOrFail(done, () => "not yet"),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`job ${jobId} never reached the expected state`) })
  )

/** Runs `test` against a fresh dispatcher and database; `calls` fills as the worker is called. */
const withDispatcher = <A, E>(test: (calls: ReadonlyArray<Call>) => Effect.Effect<A, E, SqlClient.SqlClient>) => {
  const calls: Array<Call> = []
  return Effect.zipRight(addNode, test(calls)).pipe(Effect.provide(dispatcherWith(calls)))
}

const ended = (row: JobRow) => row.status === "completed" || row.status === "failed"

describe("Dispatcher outcomes (scripted worker)", () => {
  it.live("Finished: the worker's response is the job's result", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["ok"])
        const row = yield* rowWhen(job, ended)
        expect(row).toMatchObject({ status: "completed", task_status: "completed", attempts: 0 })
        expect(row.result).toMatchObject({ status: "completed", stdout: "ran\n", job_id: job })
        expect(calls.map((c) => c.jobId)).toEqual([job])
      })), 30_000)

  it.live("Rejected: the job fails worker_rejected with the worker's problem, and is not sent again", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["reject"])
        const row = yield* rowWhen(job, ended)
        expect(row).toMatchObject({ status: "failed", task_status: "failed", attempts: 0 })
        expect(row.result).toEqual({
          version: 1,
          status: "failed",
          error_type: "worker_rejected",
          error: "node node-01 rejected the job (422): image not allowed",
          worker_problem: { status: 422, type: "urn:cynodeai:error:validation", detail: "image not allowed" }
        })
        yield* Effect.sleep("300 millis")
        expect(calls).toHaveLength(1)
      })), 30_000)

  it.live("NotSent: requeued uncounted, the node cools down, then the job is sent again", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["not-sent-once"])
        const requeued = yield* rowWhen(job, () => calls.length === 1).pipe(Effect.zipRight(Effect.sleep("200 millis")), Effect.zipRight(rowOf(job)))
        expect(requeued).toMatchObject({ status: "queued", attempts: 0, not_before: null })
        const row = yield* rowWhen(job, ended)
        expect(row).toMatchObject({ status: "completed", attempts: 0 })
        expect(row.result).toMatchObject({ stdout: "second try\n" })
        expect(calls).toHaveLength(2)
        // The node's first cool-down is 2 s: nothing is sent to it before.
        expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1_900)
      })), 30_000)

  it.live("RateLimited: requeued uncounted until Retry-After", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["busy"])
        const row = yield* rowWhen(job, (r) => calls.length === 1 && r.status === "queued")
        expect(row.attempts).toBe(0)
        expect(row.not_before!.getTime() - calls[0]!.at).toBeGreaterThan(55_000)
      })), 30_000)

  it.live("AuthRefused: requeued and counted, with the backoff", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["token"])
        const row = yield* rowWhen(job, (r) => calls.length === 1 && r.status === "queued" && r.attempts === 1)
        expect(row.not_before!.getTime() - calls[0]!.at).toBeGreaterThan(1_500)
      })), 30_000)

  it.live("Uncertain: the node is asked, and its finished record is the result (never sent twice)", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["lost"])
        const row = yield* rowWhen(job, ended)
        expect(row).toMatchObject({ status: "completed", attempts: 0 })
        expect(row.result).toMatchObject({ stdout: "from status\n" })
        expect(calls).toHaveLength(1)
      })), 30_000)

  it.live("Uncertain, and the node does not know the job: it never started, so it is requeued and counted", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["lost-unknown"])
        const row = yield* rowWhen(job, (r) => r.status === "queued" && r.attempts === 1)
        expect(row.not_before).not.toBeNull()
        expect(calls).toHaveLength(1)
      })), 30_000)

  it.live("Unknown: the job fails outcome_unknown at once", () =>
    withDispatcher((calls) =>
      Effect.gen(function*() {
        const job = yield* queueJob(["silent"])
        const row = yield* rowWhen(job, ended)
        expect(row).toMatchObject({ status: "failed", attempts: 0 })
        expect(row.result).toMatchObject({
          error_type: "outcome_unknown",
          error: "node node-01: no answer before the job's deadline"
        })
        expect(calls).toHaveLength(1)
      })), 30_000)
})
