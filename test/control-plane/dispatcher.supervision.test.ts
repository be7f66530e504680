import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import { DispatcherCore, DispatcherStatus, ReadinessWithDispatcher } from "../../src/control-plane/Dispatcher.ts"
import { DispatchSettings, type DispatchSettingsShape } from "../../src/control-plane/DispatchSettings.ts"
import { DispatchWakeup } from "../../src/control-plane/DispatchWakeup.ts"
import { JobsRepo, makeJobsRepo } from "../../src/control-plane/JobsRepo.ts"
import { WorkerClient } from "../../src/control-plane/WorkerClient.ts"
import { WorkerTokens } from "../../src/control-plane/WorkerTokens.ts"
import { Readiness } from "../../src/control-plane/Readiness.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * Supervision: a defect in the dispatcher restarts it with backoff, and while it restarts its state is in `/readyz`.
 * The real repository on a real database, except that its first claim dies.
 */

const settings: DispatchSettingsShape = {
  enabled: true,
  pollIntervalMs: 200,
  concurrency: 4,
  nodeMaxInflight: 4,
  maxAttempts: 3,
  deadlineGraceMs: 30_000,
  maxJobTimeoutSeconds: 60,
  leaseTtlMs: 2_000,
  leaseRenewMs: 500,
  sandboxImage: "localhost/cynode-sandbox:latest",
  inferenceModel: "standin:latest"
}

const claimsMade = Effect.runSync(Ref.make(0))

/** The real repository whose first claim is a defect. */
const FlakyRepo = Layer.effect(
  JobsRepo,
  Effect.map(makeJobsRepo, (repo) => ({
    ...repo,
    claim: (options: Parameters<typeof repo.claim>[0]) =>
      Effect.flatMap(Ref.getAndUpdate(claimsMade, (n) => n + 1), (n) =>
        n === 0 ? Effect.dieMessage("boom: injected defect") : repo.claim(options))
  }))
)

const Base = Layer.mergeAll(
  TestDatabase.layer,
  Layer.succeed(WorkerTokens, WorkerTokens.fromKey(new Uint8Array(32))),
  Layer.succeed(DispatchSettings, settings),
  DispatchWakeup.Default,
  DispatcherStatus.Default
)

const TestLayer = Layer.mergeAll(DispatcherCore, ReadinessWithDispatcher).pipe(
  Layer.provideMerge(Layer.mergeAll(FlakyRepo, WorkerClient.Live)),
  Layer.provideMerge(Base)
)

describe("Dispatcher supervision", () => {
  it.live("a defect shows as restarting in /readyz, then the dispatcher runs again", () =>
    Effect.gen(function*() {
      const status = yield* DispatcherStatus
      const readiness = yield* Readiness
      let seenRestarting = false
      for (let i = 0; i < 100; i++) {
        const s = yield* status.get
        if (s.state === "restarting") {
          seenRestarting = true
          expect(s.reason).toContain("boom: injected defect")
          const ready = yield* readiness.check
          expect(ready).toEqual({ ready: false, reason: "dispatcher restarting after a failure: boom: injected defect" })
        }
        if (seenRestarting && s.state === "running") break
        yield* Effect.sleep("50 millis")
      }
      expect(seenRestarting).toBe(true)
      expect((yield* status.get).state).toBe("running")
      expect(yield* Ref.get(claimsMade)).toBeGreaterThan(1)
      // Running again, /readyz is back to the usual checks (here: no node registered).
      expect((yield* readiness.check).reason).toBe("no inference path: no node registered")
    }).pipe(Effect.provide(TestLayer)))
})
