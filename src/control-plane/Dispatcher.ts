import { PgClient } from "@effect/sql-pg"
import { Cause, Deferred, Duration, Effect, Fiber, Layer, Ref, Schedule, Stream } from "effect"
import { Readiness } from "./Readiness.ts"
import { DispatchSettings, jobDeadlineMs } from "./DispatchSettings.ts"
import { DispatchWakeup } from "./DispatchWakeup.ts"
import { failure } from "../../schema/result.ts"
import { type CoolDown, coolDownAfter } from "./DispatchRules.ts"
import { JobsRepo, type ClaimedJob } from "./JobsRepo.ts"
import { makeLeases, type Lease, type Leases } from "./Leases.ts"
import { ArtifactStore, makePostgresStore } from "../../layers/ArtifactStore.ts"
import { makeArtifactsIngest } from "./ArtifactsIngest.ts"
import { relayOutput } from "./OutputRelay.ts"
import { makeOutputRepo } from "./OutputRepo.ts"
import { reconcile, requeueCounted, type ReconcileDeps } from "./Reconciler.ts"
import { WorkerClient, type WorkerTarget } from "./WorkerClient.ts"
import { runBody } from "./WorkerRequest.ts"
import type { NodeTarget } from "./WorkerTargets.ts"

/**
 * The dispatcher (control-plane.md §9): a supervised fiber in every control-plane process. It wakes on
 * `LISTEN cynode_jobs`, on an in-process signal (an applied ack, a job done) or every `DISPATCH_POLL_INTERVAL`, claims
 * until nothing is claimable, and runs each worker call in its own fiber, at most `DISPATCH_CONCURRENCY` at once.
 * A defect restarts it with backoff; its state shows in the logs and in `/readyz`.
 * Delivery semantics: docs/dispatch.md.
 */

export const JOBS_CHANNEL = "cynode_jobs"

export type DispatcherState =
  | { readonly state: "disabled" }
  | { readonly state: "starting" }
  | { readonly state: "running" }
  | { readonly state: "restarting"; readonly reason: string }

/** What the dispatcher is doing, for `/readyz` and tests. */
export class DispatcherStatus extends Effect.Service<DispatcherStatus>()("cynode/DispatcherStatus", {
  effect: Effect.map(Ref.make<DispatcherState>({ state: "starting" }), (ref) => ({
    get: Ref.get(ref),
    set: (state: DispatcherState) => Ref.set(ref, state)
  }))
}) {}

/** Readiness with the dispatcher's state: a dispatcher restarting after a defect makes `/readyz` answer 503. */
export const ReadinessWithDispatcher = Layer.effect(
  Readiness,
  Effect.gen(function*() {
    const base = yield* Readiness
    const status = yield* DispatcherStatus
    return {
      ...base,
      check: Effect.flatMap(status.get, (s) =>
        s.state === "restarting"
          ? Effect.succeed({ ready: false, reason: `dispatcher restarting after a failure: ${s.reason}` })
          : base.check)
    }
  })
).pipe(Layer.provide(Readiness.Live))

/** After a job's answer, how long its live output relay may take to store the last chunks. */
const RELAY_DRAIN = Duration.seconds(2)
/**
 * The relay connects this long after the send: a sandbox takes longer than that to print its first line, and a job
 * that answers sooner needs no relay at all (its result fills the rows), which saves a request and a drain per job.
 */
const RELAY_START = Duration.millis(100)
const CLAIM_BATCH = 64
const LAPSED_BATCH = 64

/** A result whose artifacts could not be stored: their content is dropped and the failure said in `refused`. */
const withoutArtifactContent = (result: unknown): unknown =>
  typeof result === "object" && result !== null && "artifacts" in result
    ? { ...result, artifacts: { files: [], refused: [{ path: "out", reason: "the control plane could not store the artifacts" }] } }
    : result

/** One life of the dispatcher: everything it starts lives in this scope and ends with it. */
const runOnce = Effect.gen(function*() {
  const settings = yield* DispatchSettings
  const repo = yield* JobsRepo
  const client = yield* WorkerClient
  const wakeup = yield* DispatchWakeup
  const pg = yield* PgClient.PgClient
  const status = yield* DispatcherStatus
  const output = yield* makeOutputRepo
  // The configured artifact store, else the PostgreSQL one.
  const store = yield* Effect.serviceOption(ArtifactStore).pipe(
    Effect.flatMap((configured) => configured._tag === "Some" ? Effect.succeed(configured.value) : makePostgresStore)
  )
  const ingest = yield* makeArtifactsIngest(store)
  /**
   * Every finish first moves the job's artifacts into the store; then, in one transaction, ends the job and completes
   * its live output rows from the result, so that a follower who sees the end has all of it, and a relay still
   * running stores nothing after the completion (OutputRepo).
   */
  const finishing: typeof repo = {
    ...repo,
    finish: (job, result, outcome) => {
      if (!("taskId" in job) || typeof job.taskId !== "string") return repo.finish(job, result, outcome)
      const target = { id: job.id, taskId: job.taskId }
      const endWithOutput = (stored: unknown) =>
        Effect.tap(repo.finish(job, stored, outcome), (finished) =>
          finished !== "stored" ? Effect.void : output.complete(target, stored).pipe(
            // Its own savepoint: output rows that cannot be written never undo the job's result.
            pg.withTransaction,
            Effect.catchAllCause((cause) => Effect.logWarning("cannot complete a job's live output", cause))
          )).pipe(pg.withTransaction)
      return ingest(target, result).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("cannot store a job's artifacts", cause)),
        Effect.orElseSucceed(() => withoutArtifactContent(result)),
        Effect.flatMap(endWithOutput)
      )
    }
  }

  // Fibers that outlive one job (calls, reconciliations, timed wake-ups) live as long as this life of the dispatcher.
  const life = yield* Effect.scope
  const leases: Leases = yield* makeLeases(repo, settings.leaseTtlMs)
  const cooling = new Map<string, CoolDown>()
  let inflight = 0

  /** A wake-up when a requeued job or a cooling node becomes usable again. */
  const wakeAt = (at: Date | number | null) =>
    at === null
      ? wakeup.wake
      : Effect.sleep(Duration.millis(Math.max(0, Number(at) - Date.now()) + 10)).pipe(
        Effect.zipRight(wakeup.wake),
        Effect.forkIn(life),
        Effect.asVoid
      )

  const coolDown = (node: NodeTarget) =>
    Effect.suspend(() => {
      const next = coolDownAfter(cooling.get(node.id), Date.now())
      cooling.set(node.id, next)
      return wakeAt(next.until)
    })

  const deps: ReconcileDeps = { repo: finishing, client, settings, onRequeued: wakeAt }

  const cancelWhenAsked = (lease: Lease, target: WorkerTarget | undefined) =>
    Deferred.await(lease.canceled).pipe(
      Effect.zipRight(target === undefined ? Effect.void : Effect.gen(function*() {
        const ok = yield* client.cancel(target, lease.jobId)
        yield* Effect.logInfo(ok ? "canceled job stopped on its node" : "could not tell the node to stop a canceled job").pipe(
          Effect.annotateLogs({ job_id: lease.jobId, node: target.nodeSlug })
        )
      })),
      Effect.forkScoped
    )

  /**
   * Steps 3, 5, 6 and the failure table for one claimed job; `claimStartedAt` is the monotonic time just before its
   * claim began.
   */
  const handle = (job: ClaimedJob, claimStartedAt: number) =>
    Effect.scoped(Effect.gen(function*() {
      const lease = yield* leases.hold(job)
      const target = job.node
      // A dispatcher paused between its claim and here may have lost the job to another: then it sends nothing. A
      // lease ends TTL after its claim's transaction began, which is after `claimStartedAt`: while less than a third
      // of the TTL has passed since, it cannot have lapsed, so only a later send asks the database.
      if (performance.now() - claimStartedAt >= settings.leaseTtlMs / 3 && !(yield* repo.leaseCurrent(job))) {
        // Canceled meanwhile: nothing was sent, so it simply ends (a no-op when the lease is someone else's).
        if (yield* repo.endCanceled(job)) return
        yield* Effect.logWarning("lease lapsed before the send; not sending (the job belongs to another dispatcher)")
        return
      }
      yield* cancelWhenAsked(lease, target)
      let relaying = false
      const relay = job.payload._tag === "sandbox"
        ? yield* Effect.sleep(RELAY_START).pipe(
          Effect.zipRight(Effect.sync(() => (relaying = true))),
          Effect.zipRight(relayOutput(client, output, target, { id: job.id, taskId: job.taskId })),
          Effect.forkScoped
        )
        : undefined
      const outcome = yield* Effect.raceFirst(
        client.run(target, runBody(job), jobDeadlineMs(settings, job.timeoutSeconds)),
        Effect.as(Deferred.await(lease.lost), "lost" as const)
      )
      if (outcome === "lost") return
      if (relay !== undefined) {
        if (relaying) yield* Fiber.await(relay).pipe(Effect.timeout(RELAY_DRAIN), Effect.ignore)
        yield* Fiber.interrupt(relay)
      }
      switch (outcome._tag) {
        case "Finished":
          cooling.delete(job.node.id)
          yield* finishing.finish(job, outcome.raw, outcome.response.status === "completed" ? "completed" : "failed")
          return
        case "NotSent":
          yield* Effect.logWarning("worker call not delivered; job requeued").pipe(Effect.annotateLogs("reason", outcome.reason))
          yield* repo.requeue(job, { counted: false, notBefore: null })
          yield* coolDown(target)
          return
        case "RateLimited": {
          const notBefore = new Date(Date.now() + outcome.retryAfterMs)
          yield* repo.requeue(job, { counted: false, notBefore })
          yield* wakeAt(notBefore)
          return
        }
        case "AuthRefused":
          yield* Effect.logWarning("the node refused the control plane's bearer token").pipe(
            Effect.annotateLogs("reason", outcome.reason)
          )
          yield* requeueCounted(deps, job, (n) =>
            failure(
              "worker_auth_failed",
              `node ${job.node.nodeSlug} refused the control plane's bearer token ${n} times (401: ${outcome.reason}); ` +
                "the node must fetch its config again"
            ))
          return
        case "Rejected":
          yield* finishing.finish(
            job,
            failure("worker_rejected", `node ${job.node.nodeSlug} rejected the job (${outcome.status}): ${outcome.detail}`, {
              status: outcome.status,
              type: outcome.problemType,
              detail: outcome.detail
            }),
            "failed"
          )
          return
        case "Uncertain":
          yield* Effect.logWarning("worker call ended without an answer; asking the node").pipe(
            Effect.annotateLogs("reason", outcome.reason)
          )
          yield* reconcile(deps, job, lease)
          return
        case "Unknown":
          yield* finishing.finish(job, failure("outcome_unknown", `node ${job.node.nodeSlug}: ${outcome.reason}`), "failed")
          return
      }
    })).pipe(
      // A write that failed leaves the lease to lapse: reconciliation will ask the node again.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("dispatching a job failed; its lease will lapse", cause)
      ),
      Effect.ensuring(Effect.zipRight(leases.release(job.id), Effect.sync(() => inflight--))),
      Effect.ensuring(wakeup.wake),
      Effect.annotateLogs({ job_id: job.id, task_id: job.taskId, node: job.node.nodeSlug }),
      Effect.withSpan("Dispatcher.handle")
    )

  /** Reconciliation's sweep: jobs whose dispatcher died. */
  const sweepLapsed = Effect.gen(function*() {
    const lapsed = yield* repo.claimLapsed(LAPSED_BATCH, settings.leaseTtlMs)
    for (const job of lapsed) {
      yield* Effect.logInfo("reconciling a job whose lease lapsed").pipe(
        Effect.annotateLogs({ job_id: job.id, status: job.status, node: job.node?.nodeSlug ?? "(gone)" })
      )
      const lease = yield* leases.hold(job)
      const target = job.node === undefined ? undefined : { nodeSlug: job.node.nodeSlug, url: job.node.url, token: job.node.token }
      yield* cancelWhenAsked(lease, target).pipe(Effect.zipRight(reconcile(deps, job, lease)), Effect.scoped).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("reconciling a job failed; its lease will lapse", cause)
        ),
        Effect.ensuring(leases.release(job.id)),
        Effect.ensuring(wakeup.wake),
        Effect.forkIn(life)
      )
    }
  })

  let waiting = "idle"
  const noteWaiting = (next: string) =>
    next === waiting ? Effect.void : Effect.sync(() => (waiting = next)).pipe(
      Effect.zipRight(
        next === "idle" ? Effect.logDebug("dispatcher idle") : Effect.logInfo(`queued jobs wait: ${next}`)
      )
    )

  /** Step 2-3: claim and fork until nothing is claimable or every call slot is busy. */
  const drain = Effect.gen(function*() {
    while (true) {
      const free = settings.concurrency - inflight
      if (free <= 0) return
      const claimStartedAt = performance.now()
      const result = yield* repo.claim({
        limit: Math.min(free, CLAIM_BATCH),
        nodeMaxInflight: settings.nodeMaxInflight,
        leaseTtlMs: settings.leaseTtlMs,
        sandboxImage: settings.sandboxImage,
        inferenceModel: settings.inferenceModel,
        cooling
      })
      if (result.invalid > 0) yield* Effect.logWarning("jobs failed at the claim (an invalid payload, or no live node can ever take them)").pipe(Effect.annotateLogs("count", result.invalid))
      if (result.claimed.length === 0) {
        if (result.invalid > 0) continue
        const queued = yield* repo.hasClaimable
        yield* noteWaiting(
          !queued ? "idle" : result.nodes === 0 ? "no dispatchable node" : "every dispatchable node is busy or cooling down"
        )
        return
      }
      yield* noteWaiting("dispatching")
      for (const job of result.claimed) {
        inflight++
        yield* Effect.logDebug("job claimed").pipe(Effect.annotateLogs({ job_id: job.id, node: job.node.nodeSlug }))
        yield* Effect.forkIn(handle(job, claimStartedAt), life)
      }
      // Fewer than asked: the nodes are full or nothing else fits now; a finished job or a NOTIFY wakes us again.
      if (result.claimed.length < Math.min(free, CLAIM_BATCH) && result.invalid === 0) return
    }
  })

  // LISTEN: a job became claimable (queued) or must be stopped (canceled).
  yield* pg.listen(JOBS_CHANNEL).pipe(
    Stream.runForEach((jobId) => Effect.zipRight(wakeup.wake, leases.notified(jobId).pipe(Effect.ignoreLogged))),
    Effect.tapErrorCause((cause) => Effect.logWarning(`LISTEN ${JOBS_CHANNEL} failed; retrying`, cause)),
    Effect.retry(Schedule.exponential("500 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))),
    Effect.forkScoped
  )

  // Lease renewal and the lapsed-lease sweep, every DISPATCH_LEASE_RENEW.
  yield* Effect.zipRight(leases.renewAll, sweepLapsed).pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("lease renewal or reconciliation sweep failed", cause)),
    Effect.repeat(Schedule.spaced(Duration.millis(settings.leaseRenewMs))),
    Effect.forkScoped
  )

  yield* status.set({ state: "running" })
  yield* Effect.logInfo("dispatcher running").pipe(
    Effect.annotateLogs({ concurrency: settings.concurrency, node_max_inflight: settings.nodeMaxInflight })
  )

  // Claim errors (the database away) are retried here with backoff; the calls in flight carry on meanwhile.
  const claimRetry = Schedule.exponential("500 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))
  const drainSafely = drain.pipe(
    Effect.tapError((e) => Effect.logWarning("claiming jobs failed; retrying", e)),
    Effect.retry(claimRetry)
  )
  while (true) {
    yield* drainSafely
    yield* Effect.raceFirst(wakeup.next, Effect.sleep(Duration.millis(settings.pollIntervalMs)))
  }
}).pipe(Effect.scoped)

const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** Restarts after a defect, with backoff (1 s doubling to 30 s); an interruption (shutdown) just ends it. */
const supervised = Effect.gen(function*() {
  const status = yield* DispatcherStatus
  yield* runOnce.pipe(
    Effect.sandbox,
    Effect.tapError((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.zipRight(
        Effect.logError("dispatcher failed; restarting", cause),
        status.set({ state: "restarting", reason: reasonOf(cause) })
      )),
    Effect.retry({
      schedule: Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds"))),
      while: (cause) => !Cause.isInterruptedOnly(cause)
    }),
    Effect.ignore
  )
})

/**
 * The dispatcher as a Layer: started with the program, interrupted when it stops (calls in flight are abandoned;
 * their leases lapse and the next dispatcher reconciles them). `DISPATCHER_ENABLED=false` keeps it off.
 */
export const DispatcherCore = Layer.scopedDiscard(
  Effect.gen(function*() {
    const settings = yield* DispatchSettings
    const status = yield* DispatcherStatus
    if (!settings.enabled) {
      yield* status.set({ state: "disabled" })
      yield* Effect.logInfo("dispatcher disabled (DISPATCHER_ENABLED=false)")
      return
    }
    yield* Effect.forkScoped(supervised)
  })
)

export const DispatcherLive = DispatcherCore.pipe(Layer.provide(Layer.mergeAll(JobsRepo.Live, WorkerClient.Live)))
