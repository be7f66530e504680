import { HttpClient } from "@effect/platform"
import { Context, Deferred, Duration, Effect, Either, FiberSet, Layer, Option, Schedule } from "effect"
import { ContainerRuntime, type ContainerRuntimeShape } from "../../layers/ContainerRuntime.ts"
import type { Identifier } from "../../schema/ids.ts"
import {
  Conflict,
  Forbidden,
  ImageUnavailable,
  NotFound,
  ServiceUnavailable,
  TooManyRequests
} from "../../schema/problem.ts"
import { toPreciseTimestamp } from "../../schema/time.ts"
import type { InferenceJob, SandboxJob } from "../../schema/job.ts"
import { WORKER_PAYLOAD_VERSION, type JobRecord, type RunJobRequest, type RunJobResponse } from "../../schema/worker.ts"
import { generate } from "./Inference.ts"
import { closeStaleRecords, readRecord, sweepExpired, writeRecord } from "./JobRecords.ts"
import { isCommandNotFound, removeReliably, runSandbox, sandboxSpec, type SandboxRun, type StopReason } from "./Sandbox.ts"
import { capText, finishUtf8, withNodeLine, type CappedText } from "./Truncate.ts"
import { WorkerSettingsTag } from "./Settings.ts"
import { WorkerState } from "./WorkerState.ts"
import { OutputLog } from "./OutputLog.ts"
import { prepareWorkspace, writeInputFiles } from "./Workspace.ts"
import { collectArtifacts, prepareOutDir } from "./Artifacts.ts"

/**
 * Accepting and running jobs (worker-node.md §6, §7). Each accepted job runs in a fiber of the worker's own
 * FiberSet, so a client that disconnects stops nothing; its result lands in the job record for `GET`. Admission is
 * one synchronous check-and-reserve: a held `job_id` gets 409, a full node 429 (no queue).
 */

export const RETRY_AFTER_SECONDS = 5

interface ActiveJob {
  readonly taskId: Identifier
  readonly startedAt: string
  /** Completed once, with the reason, to stop the job early. */
  readonly stop: Deferred.Deferred<StopReason>
  readonly done: Deferred.Deferred<RunJobResponse>
}

export type RunError = Forbidden | Conflict | ImageUnavailable | TooManyRequests | ServiceUnavailable

export interface JobsShape {
  /** Runs a decoded, version-checked request and answers when the job ends (or the stored answer of a finished one). */
  readonly run: (request: RunJobRequest) => Effect.Effect<RunJobResponse, RunError>
  /** `leaseSeq`: the asker's lease, remembered like a send's (a later send under an older lease is refused). */
  readonly status: (jobId: Identifier, leaseSeq?: number) => Effect.Effect<JobRecord, NotFound>
  /** Stops a running job and waits (bounded) for its record to say so; finished jobs are left unchanged. */
  readonly cancel: (jobId: Identifier) => Effect.Effect<void, NotFound>
  /** The live output of a sandbox job running here, or that ended here within the last minute. */
  readonly output: (jobId: Identifier) => Effect.Effect<OutputLog, NotFound>
  readonly activeCount: Effect.Effect<number>
  /** Stop accepting, let running jobs finish within the grace period, then stop them (records say so). */
  readonly shutdown: Effect.Effect<void>
}

export class Jobs extends Context.Tag("cynode/worker-api/Jobs")<Jobs, JobsShape>() {}

const CANCEL_LINE = "cynode-worker: job canceled"
const SHUTDOWN_LINE = "cynode-worker: canceled by node shutdown"
/** How long `cancel` waits for the stopped job's record before answering 204 anyway. */
const CANCEL_WAIT = Duration.seconds(15)
const REAP_INTERVAL = Duration.minutes(1)
const MAX_REMEMBERED_LEASES = 100_000
const SWEEP_INTERVAL = Duration.hours(1)
/** A final record write that failed (a disk filling up, a hiccup) is tried again for about 3 s. */
const RECORD_RETRY = Schedule.exponential("100 millis", 2).pipe(Schedule.intersect(Schedule.recurs(5)))
const UNSAVED_RETRY_INTERVAL = Duration.seconds(2)
/** How long an ended job's output log stays readable, for a follower that reconnects to read the rest. */
const OUTPUT_KEEP_MS = 60_000

const isUnavailable = (e: { readonly _tag: string }) => e._tag === "RuntimeUnavailable"

const empty: CappedText = { text: "", truncated: false }

/** Builds the reply from what the sandbox produced. */
const sandboxResponse = (
  request: RunJobRequest,
  run: SandboxRun,
  cap: number
): RunJobResponse => {
  const text = (bytes: Uint8Array, truncated: boolean): CappedText => finishUtf8(bytes, cap, truncated)
  const stdout = text(run.output.stdout, run.output.stdoutTruncated)
  let stderr = text(run.output.stderr, run.output.stderrTruncated)
  let status: RunJobResponse["status"]
  let exitCode: number
  switch (run.ending._tag) {
    case "Exited":
      status = run.ending.exitCode === 0 ? "completed" : "failed"
      exitCode = run.ending.exitCode
      break
    case "TimedOut":
      status = "timeout"
      exitCode = -1
      break
    case "Stopped":
      status = "failed"
      exitCode = -1
      stderr = withNodeLine(stderr, run.ending.reason === "cancel" ? CANCEL_LINE : SHUTDOWN_LINE, cap)
      break
    case "WorkspaceFull":
      status = "failed"
      exitCode = -1
      stderr = withNodeLine(
        stderr,
        `cynode-worker: job stopped: its workspace exceeded the limit of ${run.ending.limitBytes} bytes`,
        cap
      )
      break
    case "StartFailed":
      // Our choice (§6): the process could not be started, like a shell's "command not found".
      status = "failed"
      exitCode = isCommandNotFound(run.ending.message) ? 127 : -1
      stderr = withNodeLine(empty, `cynode-worker: cannot start the command: ${run.ending.message}`, cap)
      break
  }
  return finished(request, {
    status,
    exit_code: exitCode,
    stdout,
    stderr,
    started_at: toPreciseTimestamp(run.startedAt),
    ended_at: toPreciseTimestamp(run.endedAt)
  })
}

const finished = (
  request: { readonly task_id: Identifier; readonly job_id: Identifier },
  r: {
    readonly status: RunJobResponse["status"]
    readonly exit_code: number
    readonly stdout: CappedText
    readonly stderr: CappedText
    readonly started_at: string
    readonly ended_at: string
  }
): RunJobResponse => ({
  version: WORKER_PAYLOAD_VERSION,
  task_id: request.task_id,
  job_id: request.job_id,
  status: r.status,
  exit_code: r.exit_code,
  stdout: r.stdout.text,
  stderr: r.stderr.text,
  started_at: r.started_at,
  ended_at: r.ended_at,
  truncated: { stdout: r.stdout.truncated, stderr: r.stderr.truncated }
})

/** A job that ended without running anything useful: `failed`, exit -1, one node line in stderr. */
const failedWith = (request: RunJobRequest, startedAt: string, line: string, cap: number): RunJobResponse =>
  finished(request, {
    status: "failed",
    exit_code: -1,
    stdout: empty,
    stderr: withNodeLine(empty, line, cap),
    started_at: startedAt,
    ended_at: toPreciseTimestamp(new Date())
  })

export const make = Effect.gen(function*() {
  const settings = yield* WorkerSettingsTag
  const runtime = yield* ContainerRuntime
  const httpClient = yield* HttpClient.HttpClient
  const state = yield* WorkerState
  const fibers = yield* FiberSet.make<RunJobResponse>()
  const active = new Map<string, ActiveJob>()
  /** Finished jobs whose record could not be written: answered from here, so a result is never lost to the disk. */
  const unsaved = new Map<string, RunJobResponse>()
  const outputs = new Map<string, OutputLog>()
  const cap = settings.maxOutputBytes
  /** The newest lease seen per job (sends and status questions), oldest entries dropped past the bound. */
  const leases = new Map<string, number>()

  /** Remembers `seq` for the job; the newest lease seen before it when `seq` is older (a stale send). */
  const noteLease = (jobId: string, seq: number | undefined): Option.Option<number> => {
    if (seq === undefined) return Option.none()
    const seen = leases.get(jobId)
    if (seen !== undefined && seq < seen) return Option.some(seen)
    leases.delete(jobId)
    leases.set(jobId, seq)
    if (leases.size > MAX_REMEMBERED_LEASES) leases.delete(leases.keys().next().value ?? "")
    return Option.none()
  }

  /** A fresh output log, opened when a sandbox job is admitted so that a follower can connect at once. */
  const openOutput = (jobId: string) => {
    const log = new OutputLog()
    outputs.set(jobId, log)
    return log
  }

  /** The output is complete; it stays readable for a while, for a follower that reconnects to read the rest. */
  const closeOutput = (jobId: string) =>
    Effect.sync(() => {
      const log = outputs.get(jobId)
      if (log === undefined) return
      log.end()
      setTimeout(() => {
        if (outputs.get(jobId) === log) outputs.delete(jobId)
      }, OUTPUT_KEEP_MS).unref()
    })

  yield* startupCleanup(runtime, settings)

  const runInference = (request: RunJobRequest, job: InferenceJob, startedAt: string, stop: Deferred.Deferred<StopReason>) =>
    Effect.raceFirst(
      generate(settings.inferenceBaseUrl, job, Duration.seconds(settings.inferenceTimeoutSeconds)).pipe(
        Effect.provideService(HttpClient.HttpClient, httpClient),
        Effect.map((text) =>
          finished(request, {
            status: "completed",
            exit_code: 0,
            stdout: capText(text, cap),
            stderr: empty,
            started_at: startedAt,
            ended_at: toPreciseTimestamp(new Date())
          })
        ),
        Effect.catchAll((e) => Effect.succeed(failedWith(request, startedAt, `cynode-worker: inference failed: ${e.reason}`, cap)))
      ),
      // Losing the race interrupts the HTTP call, which aborts it.
      Effect.map(Deferred.await(stop), (reason) =>
        failedWith(request, startedAt, `cynode-worker: inference failed: ${reason === "cancel" ? "canceled" : "canceled by node shutdown"}`, cap))
    )

  const runSandboxJob = (request: RunJobRequest, job: SandboxJob, startedAt: string, stop: Deferred.Deferred<StopReason>) =>
    Effect.gen(function*() {
      const workspace = yield* Effect.either(prepareWorkspace(settings.mountRoot, request.job_id, settings.sandboxUser))
      if (workspace._tag === "Left") return failedWith(request, startedAt, `cynode-worker: ${workspace.left.message}`, cap)
      if (job.files !== undefined && job.files.length > 0) {
        const written = yield* Effect.either(writeInputFiles(workspace.right, job.files, settings.sandboxUser))
        if (written._tag === "Left") return failedWith(request, startedAt, `cynode-worker: ${written.left.message}`, cap)
      }
      const outDir = yield* Effect.either(prepareOutDir(workspace.right, settings.sandboxUser))
      if (outDir._tag === "Left") return failedWith(request, startedAt, `cynode-worker: ${outDir.left.message}`, cap)
      const timeoutSeconds = Math.min(job.timeout_seconds ?? settings.timeoutDefaultSeconds, settings.timeoutMaxSeconds)
      const log = outputs.get(request.job_id) ?? openOutput(request.job_id)
      const run = yield* Effect.either(
        runSandbox(runtime, sandboxSpec(settings, { ...request, sandbox: job }, workspace.right), {
          timeout: Duration.seconds(timeoutSeconds),
          maxOutputBytes: cap,
          stopRequested: Deferred.await(stop),
          onOutput: (stream, bytes) => log.append(stream, bytes),
          workspace: { path: workspace.right, limitBytes: settings.workspaceBytes }
        })
      )
      if (run._tag === "Left") {
        return failedWith(request, startedAt, `cynode-worker: container runtime error: ${run.left.message}`, cap)
      }
      const response = sandboxResponse(request, run.right, cap)
      // A collection that fails is said in the refused list; the job's own outcome stands.
      const artifacts = yield* collectArtifacts(workspace.right).pipe(
        Effect.catchAll((e) => Effect.succeed({ files: [], refused: [{ path: "out", reason: e.message }] }))
      )
      return artifacts.files.length + artifacts.refused.length > 0 ? { ...response, artifacts } : response
    })

  /** The job's own fiber: run, record the result, release the slot, answer whoever waits. */
  const execute = (request: RunJobRequest, entry: ActiveJob) =>
    (request.inference !== undefined
      ? runInference(request, request.inference, entry.startedAt, entry.stop)
      : request.sandbox !== undefined
      ? runSandboxJob(request, request.sandbox, entry.startedAt, entry.stop)
      : Effect.dieMessage("a decoded request carries a sandbox or an inference job")).pipe(
      Effect.onInterrupt(() =>
        // Interrupted without a stop request (the scope closed first): the record must not stay `running`.
        writeRecord(settings.mountRoot, failedWith(request, entry.startedAt, SHUTDOWN_LINE, cap)).pipe(Effect.ignoreLogged)
      ),
      Effect.tap((response) =>
        writeRecord(settings.mountRoot, response).pipe(
          Effect.retry({ schedule: RECORD_RETRY }),
          Effect.catchAll((e) =>
            Effect.gen(function*() {
              unsaved.set(request.job_id, response)
              yield* state.markUnhealthy(`job records cannot be written under the mount root (${e.message})`)
              yield* Effect.logError("cannot store a job result; it is answered from memory and the node reports itself unhealthy")
                .pipe(Effect.annotateLogs("reason", e.message))
            })
          )
        )
      ),
      Effect.tap((response) => Deferred.succeed(entry.done, response)),
      Effect.ensuring(Effect.zipRight(closeOutput(request.job_id), Effect.sync(() => active.delete(request.job_id)))),
      Effect.annotateLogs({ task_id: request.task_id, job_id: request.job_id })
    )

  /** Synchronous check-and-reserve: nothing can slip in between the checks and the insert. */
  const reserve = (request: RunJobRequest, entry: ActiveJob) =>
    Effect.suspend((): Effect.Effect<void, Conflict | TooManyRequests> => {
      if (active.has(request.job_id)) {
        return Effect.fail(new Conflict({ detail: `job ${request.job_id} is already running on this node` }))
      }
      if (active.size >= settings.maxConcurrency) {
        return Effect.fail(new TooManyRequests({
          detail: `this node already runs ${active.size} jobs (limit ${settings.maxConcurrency}); retry later`,
          retry_after_seconds: RETRY_AFTER_SECONDS
        }))
      }
      active.set(request.job_id, entry)
      return Effect.void
    })

  const release = (jobId: string) => Effect.sync(() => active.delete(jobId))

  const checkImage = (image: string) =>
    runtime.ensureImage(image, { pull: true, pullTimeout: Duration.seconds(settings.pullTimeoutSeconds) }).pipe(
      Effect.mapError((e) =>
        e._tag === "ImageMissing"
          ? new ImageUnavailable({ detail: `image ${image} is not available on this node: ${e.message}` })
          : new ServiceUnavailable({
            detail: isUnavailable(e) ? "the container runtime is unavailable" : `the container runtime failed: ${e.message}`
          })
      )
    )

  const run = (request: RunJobRequest): Effect.Effect<RunJobResponse, RunError> =>
    Effect.gen(function*() {
      // A finished job kept in memory is answered even while unhealthy: it is the answer, nothing runs again.
      const kept = unsaved.get(request.job_id)
      if (kept !== undefined) return kept
      const readiness = yield* state.acceptingJobs
      if (Either.isLeft(readiness)) return yield* Effect.fail(new ServiceUnavailable({ detail: readiness.left }))
      const newer = noteLease(request.job_id, request.lease_seq)
      if (Option.isSome(newer)) {
        yield* Effect.logWarning("stale send refused: a newer lease on this job was seen").pipe(
          Effect.annotateLogs({ job_id: request.job_id, lease_seq: request.lease_seq ?? -1, newest_lease_seq: newer.value })
        )
        return yield* Effect.fail(new Conflict({
          detail: `stale lease: job ${request.job_id} was sent under lease ${request.lease_seq}, but lease ${newer.value} was seen`
        }))
      }
      const image = request.sandbox?.image
      if (image !== undefined && !settings.allowedImages.includes(image)) {
        return yield* Effect.fail(new Forbidden({ detail: `image ${image} is not in this node's sandbox image allowlist` }))
      }
      if (active.has(request.job_id)) {
        return yield* Effect.fail(new Conflict({ detail: `job ${request.job_id} is already running on this node` }))
      }
      const stored = yield* readRecord(settings.mountRoot, request.job_id)
      if (Option.isSome(stored) && stored.value.status !== "running") return stored.value
      const entry: ActiveJob = {
        taskId: request.task_id,
        startedAt: toPreciseTimestamp(new Date()),
        stop: yield* Deferred.make<StopReason>(),
        done: yield* Deferred.make<RunJobResponse>()
      }
      yield* reserve(request, entry)
      if (image !== undefined) openOutput(request.job_id)
      // Until the job's fiber owns the slot, any failure (or a client that goes away) gives it back.
      yield* Effect.gen(function*() {
        if (image !== undefined) yield* checkImage(image)
        yield* writeRecord(settings.mountRoot, {
          version: WORKER_PAYLOAD_VERSION,
          task_id: request.task_id,
          job_id: request.job_id,
          status: "running",
          started_at: entry.startedAt
        }).pipe(Effect.mapError((e) => new ServiceUnavailable({ detail: `cannot record the job: ${e.message}` })))
        // Forked from an uninterruptible region, so the job's own fiber is made interruptible again explicitly.
        yield* FiberSet.run(fibers, Effect.interruptible(execute(request, entry)))
        // In the same uninterruptible region: a caller that goes away now cannot leave a running job unlogged.
        yield* Effect.logInfo("job accepted").pipe(
          Effect.annotateLogs({ task_id: request.task_id, job_id: request.job_id, kind: image === undefined ? "inference" : "sandbox" })
        )
      }).pipe(Effect.onError(() => Effect.zipRight(closeOutput(request.job_id), release(request.job_id))), Effect.uninterruptible)
      return yield* Deferred.await(entry.done)
    })

  const status = (jobId: Identifier, leaseSeq?: number) =>
    Effect.gen(function*() {
      noteLease(jobId, leaseSeq)
      const entry = active.get(jobId)
      if (entry !== undefined) {
        return {
          version: WORKER_PAYLOAD_VERSION,
          task_id: entry.taskId,
          job_id: jobId,
          status: "running",
          started_at: entry.startedAt
        } satisfies JobRecord
      }
      const kept = unsaved.get(jobId)
      if (kept !== undefined) return kept as JobRecord
      const stored = yield* readRecord(settings.mountRoot, jobId)
      return yield* Option.match(stored, {
        onNone: () => Effect.fail(new NotFound({ detail: `job ${jobId} is not known on this node` })),
        onSome: Effect.succeed
      })
    })

  const cancel = (jobId: Identifier) =>
    Effect.gen(function*() {
      const entry = active.get(jobId)
      if (entry === undefined) {
        yield* status(jobId)
        return
      }
      yield* Deferred.succeed(entry.stop, "cancel")
      yield* Deferred.await(entry.done).pipe(Effect.timeout(CANCEL_WAIT), Effect.ignore)
    })

  // Shutdown (DECISIONS.md "Node shutdown"): no new jobs, running ones get a grace period, then they are stopped
  // and their records say so. The waiting requests get those answers before the HTTP server closes.
  const shutdown = Effect.gen(function*() {
    yield* state.close
    if (active.size === 0) return
    const pending = [...active.values()]
    yield* Effect.logInfo("waiting for running jobs before shutdown").pipe(Effect.annotateLogs("jobs", pending.length))
    // Finalizers run uninterruptibly: the waits are made interruptible so that their timeouts can end them.
    const all = Effect.interruptible(Effect.forEach(pending, (job) => Deferred.await(job.done), { discard: true }))
    const inTime = yield* all.pipe(Effect.timeout(Duration.seconds(settings.shutdownGraceSeconds)), Effect.option)
    if (Option.isSome(inTime)) return
    yield* Effect.forEach(pending, (job) => Deferred.succeed(job.stop, "shutdown"), { discard: true })
    yield* all.pipe(Effect.timeout(CANCEL_WAIT), Effect.ignore)
  })

  // Periodic upkeep: remove sandbox containers no running job owns (failed removals), and sweep old job directories.
  yield* reapOrphans(runtime, settings, (jobId) => active.has(jobId)).pipe(
    Effect.repeat(Schedule.spaced(REAP_INTERVAL)),
    Effect.delay(REAP_INTERVAL),
    Effect.forkScoped
  )
  yield* Effect.suspend(() =>
    sweepExpired(settings.mountRoot, settings.retentionHours * 3_600_000, new Date(), (jobId) => active.has(jobId))
  ).pipe(
    Effect.tap((swept) => swept > 0 ? Effect.logInfo("swept expired job directories").pipe(Effect.annotateLogs("count", swept)) : Effect.void),
    Effect.repeat(Schedule.spaced(SWEEP_INTERVAL)),
    Effect.forkScoped
  )

  // Results kept in memory are written as soon as the disk takes them again; then the node is healthy again.
  yield* Effect.suspend(() =>
    unsaved.size === 0
      ? Effect.void
      : Effect.forEach([...unsaved.values()], (response) =>
        writeRecord(settings.mountRoot, response).pipe(
          Effect.tap(() => Effect.sync(() => unsaved.delete(response.job_id))),
          Effect.ignore
        )).pipe(Effect.zipRight(Effect.suspend(() => unsaved.size === 0 ? state.markHealthy : Effect.void)))
  ).pipe(Effect.repeat(Schedule.spaced(UNSAVED_RETRY_INTERVAL)), Effect.forkScoped)


  const output = (jobId: Identifier) =>
    Effect.suspend(() => {
      const log = outputs.get(jobId)
      return log === undefined
        ? Effect.fail(new NotFound({ detail: `no live output for job ${jobId} on this node` }))
        : Effect.succeed(log)
    })

  return { run, status, cancel, output, shutdown, activeCount: Effect.sync(() => active.size) } satisfies JobsShape
})

/** This node's sandbox and check containers that no running job owns. */
const reapOrphans = (runtime: ContainerRuntimeShape, settings: { readonly nodeSlug: string }, isActive: (jobId: string) => boolean) =>
  Effect.forEach(["sandbox", "check"], (role) =>
    runtime.listByLabel({ "io.cynode.node": settings.nodeSlug, "io.cynode.role": role }).pipe(
      Effect.flatMap((containers) =>
        Effect.forEach(
          containers.filter((c) => !isActive(c.labels["io.cynode.job_id"] ?? "")),
          (c) => removeReliably(runtime, c.id).pipe(Effect.as(1)),
          { concurrency: 2 }
        )
      ),
      Effect.map((removed) => removed.length),
      Effect.catchAll((e) => Effect.logWarning("cannot list leftover containers", e.message).pipe(Effect.as(0)))
    )).pipe(Effect.map((counts) => counts.reduce((a, b) => a + b, 0)))

/** Startup (§3): reap leftover containers of this node, then close the records a previous process left `running`. */
const startupCleanup = (runtime: ContainerRuntimeShape, settings: { readonly nodeSlug: string; readonly mountRoot: string }) =>
  Effect.gen(function*() {
    const reaped = yield* reapOrphans(runtime, settings, () => false)
    const closed = yield* closeStaleRecords(settings.mountRoot)
    if (reaped > 0 || closed > 0) {
      yield* Effect.logInfo("cleaned up after a previous run").pipe(
        Effect.annotateLogs({ containers_removed: reaped, records_closed: closed })
      )
    }
  })

export const JobsLive = Layer.scoped(Jobs, make)
