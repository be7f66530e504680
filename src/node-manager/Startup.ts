import { Cause, Context, Data, Duration, Effect, Either, Layer, Option, Ref, Scope } from "effect"
import type { ExitCoded } from "../../layers/ExitCode.ts"
import { ContainerRuntime, discoveryConfig, make as makeRuntime, type ContainerRuntimeShape } from "../../layers/ContainerRuntime.ts"
import { Jobs } from "../worker-api/Jobs.ts"
import { withConstraints, type WorkerSettings } from "../worker-api/Settings.ts"
import { layer as workerApiLayer, WorkerState } from "../worker-api/WorkerApi.ts"
import { ensureMountRoot } from "../worker-api/Workspace.ts"
import { ackBody, makeConfigRefresher } from "./ConfigRefresh.ts"
import { makeMeasure, NO_INFERENCE, type InferenceObservation } from "./Capabilities.ts"
import { startInference, stopInference, type InferenceHandle } from "./Inference.ts"
import { validateConfig, type AckErrorType, type NodeConfig } from "./NodeConfig.ts"
import { loadNodeSettings, type NodeSettings } from "./NodeSettings.ts"
import { makeOrchestratorClient, type OrchestratorClient, type OrchestratorError } from "./OrchestratorClient.ts"
import { heartbeatLoop, reportLoop, reportOnce, type ReporterOptions } from "./Reporter.ts"

/**
 * The node manager's fail-fast startup (worker-node.md §3), one function per step, each with its own error type
 * carrying the step, the reason, what to check, and the documented exit code (an ExitCoded error):
 *
 *   decode env (1) → checks + reap (3) → register (2) → fetch config (2) → validate (2) → worker API (4)
 *   → inference (5) → ack applied (2) → heartbeats, first report + report loop.
 *
 * Everything a step starts is tied to one scope, so a failing step (or SIGINT/SIGTERM) stops what started, in
 * reverse order. A failure after the config arrived sends a `failed` ack with the matching error type first.
 *
 * The Worker API runs IN-PROCESS (a Layer built into this scope) with the delivered token held as `Redacted`: the
 * token therefore never appears in an environment, an argv (`ps`) or a child process, and the Worker API cannot
 * die unnoticed beside us. A token re-issued later (a heartbeat names a new config version) is handed to it while
 * it runs (ConfigRefresh.ts).
 */

// ---- step errors ----------------------------------------------------------------------------------------------

interface StepFields {
  readonly reason: string
  /** What an operator should look at. */
  readonly check: string
}

export class EnvInvalid extends Data.TaggedError("EnvInvalid")<StepFields> implements ExitCoded {
  readonly step = "decode environment"
  readonly exitCode = 1
}
export class ChecksFailed extends Data.TaggedError("ChecksFailed")<StepFields> implements ExitCoded {
  readonly step = "checks"
  readonly exitCode = 3
}
export class RegistrationFailed extends Data.TaggedError("RegistrationFailed")<StepFields> implements ExitCoded {
  readonly step = "register"
  readonly exitCode = 2
}
export class ConfigFetchFailed extends Data.TaggedError("ConfigFetchFailed")<StepFields> implements ExitCoded {
  readonly step = "fetch config"
  readonly exitCode = 2
}
export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<StepFields & { readonly type: AckErrorType }> implements ExitCoded {
  readonly step = "validate config"
  readonly exitCode = 2
}
export class WorkerApiStartFailed extends Data.TaggedError("WorkerApiStartFailed")<StepFields> implements ExitCoded {
  readonly step = "start worker api"
  readonly exitCode = 4
}
export class InferenceFailed extends Data.TaggedError("InferenceFailed")<StepFields & { readonly type: AckErrorType }> implements ExitCoded {
  readonly step = "start inference"
  readonly exitCode = 5
}
export class AckFailed extends Data.TaggedError("AckFailed")<StepFields> implements ExitCoded {
  readonly step = "ack applied"
  readonly exitCode = 2
}

export type StartupError =
  | EnvInvalid
  | ChecksFailed
  | RegistrationFailed
  | ConfigFetchFailed
  | ConfigInvalid
  | WorkerApiStartFailed
  | InferenceFailed
  | AckFailed

/** Exit code 6: containers failed to stop on shutdown (set by a finalizer, read by main's teardown). */
export interface ShutdownStatus {
  containersLeft: boolean
}

export const describeFailure = (e: StartupError) =>
  `node-manager: startup failed at step "${e.step}": ${e.reason}\n  check: ${e.check}\n  exit code ${e.exitCode}`

// ---- timings ---------------------------------------------------------------------------------------------------

/** Per-step durations for the startup log line (the bench reads `timings_ms`). */
const makeTimings = () => {
  const started = Date.now()
  const steps: Record<string, number> = {}
  const timed = <A, E, R>(step: string, effect: Effect.Effect<A, E, R>) =>
    Effect.suspend(() => {
      const t0 = Date.now()
      return effect.pipe(Effect.ensuring(Effect.sync(() => {
        steps[step] = Date.now() - t0
      })))
    })
  return { timed, snapshot: () => ({ timings_ms: { ...steps }, total_ms: Date.now() - started }) }
}

// ---- steps -----------------------------------------------------------------------------------------------------

const reasonOf = (e: unknown) =>
  typeof e === "object" && e !== null && "message" in e && typeof e.message === "string" && e.message !== ""
    ? e.message
    : String(e)

/** Step 1. */
export const decodeEnvironment = loadNodeSettings.pipe(
  Effect.mapError((e) =>
    new EnvInvalid({ reason: String(e).replace(/^\(|\)$/g, ""), check: "the CYNODE_* environment variables (worker-node.md §2)" })
  )
)

const CHECK_TIMEOUT = Duration.seconds(30)

/** Step 2: runtime ping, the check image runs with no network, the mount root; then reap this node's leftovers. */
export const runChecks = (settings: NodeSettings) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.flatMap(discoveryConfig, makeRuntime).pipe(
      Effect.mapError((e) =>
        new ChecksFailed({
          reason: reasonOf(e),
          check: "that Podman or Docker runs (CYNODE_CONTAINER_SOCKET, DOCKER_HOST or the default sockets)"
        })
      )
    )
    yield* runtime.ping.pipe(Effect.mapError((e) => new ChecksFailed({ reason: e.message, check: "the container runtime" })))
    const result = yield* runtime.run({
      image: settings.checkImage,
      cmd: ["sh", "-c", "true"],
      user: settings.worker.sandboxUser,
      networkMode: "none",
      labels: { "io.cynode.node": settings.nodeSlug, "io.cynode.role": "check" }
    }, { timeout: CHECK_TIMEOUT }).pipe(
      Effect.mapError((e) =>
        new ChecksFailed({
          reason: `the check image ${settings.checkImage} did not run: ${e.message}`,
          check: `that ${settings.checkImage} exists locally (build it with \`just images\`; it is never pulled)`
        })
      )
    )
    if (result.timedOut || result.exitCode !== 0) {
      return yield* new ChecksFailed({
        reason: result.timedOut
          ? `the check container did not finish within 30 s`
          : `the check container exited with code ${result.exitCode}: ${Buffer.from(result.stderr).toString("utf8").trim()}`,
        check: `the container runtime and the image ${settings.checkImage}`
      })
    }
    yield* ensureMountRoot(settings.worker.mountRoot).pipe(
      Effect.mapError((e) =>
        new ChecksFailed({ reason: e.message, check: "CYNODE_SANDBOX_MOUNT_ROOT / CYNODE_STATE_DIR: it must be creatable (0700) and writable" })
      )
    )
    yield* reapLeftovers(runtime, settings.nodeSlug)
    return runtime
  })

/** This node's `sandbox` and `check` containers from an earlier run (the Worker API also closes their records). */
const reapLeftovers = (runtime: ContainerRuntimeShape, nodeSlug: string) =>
  Effect.forEach(["sandbox", "check"], (role) =>
    runtime.listByLabel({ "io.cynode.node": nodeSlug, "io.cynode.role": role }).pipe(
      Effect.flatMap((list) => Effect.forEach(list, (c) => runtime.remove(c.id).pipe(Effect.as(1)), { concurrency: 2 })),
      Effect.map((removed) => removed.length),
      Effect.catchAll((e) => Effect.logWarning("cannot reap leftover containers", e.message).pipe(Effect.as(0)))
    )).pipe(
      Effect.map((counts) => counts.reduce((a, b) => a + b, 0)),
      Effect.tap((n) => n > 0 ? Effect.logInfo("reaped leftover containers").pipe(Effect.annotateLogs("count", n)) : Effect.void)
    )

const orchestratorCheck = (e: OrchestratorError, settings: NodeSettings) => {
  switch (e._tag) {
    case "OrchestratorUnreachable":
      return `that the control plane runs and CYNODE_ORCHESTRATOR_URL (${settings.orchestratorUrl}) reaches it`
    case "OrchestratorRefused":
      return e.status === 401 && e.operation === "register"
        ? "that CYNODE_NODE_REGISTRATION_PSK matches the control plane's NODE_REGISTRATION_PSK"
        : e.status === 409
        ? "the config was superseded while starting; a restart fetches the current one"
        : "the control plane's log for this request"
    case "BadOrchestratorAnswer":
      return "that CYNODE_ORCHESTRATOR_URL points at a CyNode control plane of a compatible version"
  }
}

const describeOrchestrator = (e: OrchestratorError) =>
  e._tag === "OrchestratorRefused"
    ? `${e.operation} at ${e.url} answered ${e.status}: ${e.detail}`
    : `${e.operation} at ${e.url}: ${e.reason}`

/** Step 3: PSK → bootstrap payload; the JWT stays in memory. Keeps it fresh in the background from now on. */
export const register = (client: OrchestratorClient, settings: NodeSettings) =>
  client.register.pipe(
    Effect.mapError((e) => new RegistrationFailed({ reason: describeOrchestrator(e), check: orchestratorCheck(e, settings) })),
    Effect.zipLeft(client.keepFresh)
  )

/** Step 4: GET node_config_url, once. */
export const fetchConfig = (client: OrchestratorClient, settings: NodeSettings) =>
  client.fetchConfig.pipe(
    Effect.mapError((e) => new ConfigFetchFailed({ reason: describeOrchestrator(e), check: orchestratorCheck(e, settings) }))
  )

/** The `failed` ack, where the control plane is reachable; its own failure is only logged. */
const ackFailed = (client: OrchestratorClient, settings: NodeSettings, configVersion: string, type: AckErrorType, message: string) =>
  client.ack(ackBody(settings.nodeSlug, configVersion, { type, message })).pipe(
    Effect.tap(() => Effect.logInfo("config ack sent").pipe(Effect.annotateLogs({ status: "failed", error_type: type }))),
    Effect.catchAll((e) => Effect.logError("the failed ack could not be sent", describeOrchestrator(e)))
  )

/** Step 5: version 1, our slug, a config version, a token; else a failed ack. */
export const validate = (client: OrchestratorClient, settings: NodeSettings, raw: unknown) =>
  Either.match(validateConfig(raw, settings.nodeSlug), {
    onRight: Effect.succeed,
    onLeft: (rejected) =>
      Effect.gen(function*() {
        if (Option.isSome(rejected.configVersion)) {
          yield* ackFailed(client, settings, rejected.configVersion.value, rejected.type, rejected.reason)
        }
        return yield* new ConfigInvalid({
          reason: rejected.reason,
          check: "that the control plane and this node speak the same config payload version",
          type: rejected.type
        })
      })
  })

/** The Worker API settings from the environment plus the delivered config (it can only tighten them). */
export const workerSettingsFor = (settings: NodeSettings, config: NodeConfig): WorkerSettings => {
  const delivered = Option.getOrElse(config.allowedImages, () => [settings.checkImage])
  // CYNODE_SANDBOX_ALLOWED_IMAGES narrows the delivered allowlist; it never widens it (WORKER-0121).
  const allowed = Option.match(settings.localAllowedImages, {
    onNone: () => delivered,
    onSome: (local) => local.filter((image) => delivered.includes(image))
  })
  return withConstraints({
    ...settings.worker,
    allowedImages: allowed,
    inferenceBaseUrl: Option.map(config.inference, (i) => `http://127.0.0.1:${i.port}`)
  }, config.constraints)
}

/** Step 6: the Worker API in-process, listening but answering 503 on /readyz until `markReady`. */
export const startWorkerApi = (
  client: OrchestratorClient,
  settings: NodeSettings,
  config: NodeConfig,
  runtime: ContainerRuntimeShape,
  scope: Scope.Scope
) =>
  Layer.buildWithScope(
    workerApiLayer({
      token: {
        token: config.token,
        ...(Option.isSome(config.tokenExpiresAt) ? { expiresAt: config.tokenExpiresAt.value } : {})
      },
      settings: workerSettingsFor(settings, config)
    }).pipe(Layer.provide(Layer.succeed(ContainerRuntime, runtime))),
    scope
  ).pipe(
    Effect.map((ctx) => ({ state: Context.get(ctx, WorkerState), jobs: Context.get(ctx, Jobs) })),
    Effect.tapErrorCause((cause) => Effect.logError("worker api did not start", cause)),
    Effect.catchAllCause((cause) =>
      Effect.gen(function*() {
        const reason = `the worker API did not start on ${settings.worker.listen.host}:${settings.worker.listen.port}: ${
          reasonOf(Cause.squash(cause))
        }`
        yield* ackFailed(client, settings, config.configVersion, "worker_api_start_failed", reason)
        return yield* new WorkerApiStartFailed({
          reason,
          check: "CYNODE_WORKER_LISTEN_ADDR (is the port free?) and CYNODE_SANDBOX_MOUNT_ROOT"
        })
      })
    )
  )

/** Step 7: one inference container when instructed; it is stopped (and kept) when the scope closes. */
export const startInferenceStep = (
  client: OrchestratorClient,
  settings: NodeSettings,
  config: NodeConfig,
  runtime: ContainerRuntimeShape,
  status: ShutdownStatus
) =>
  Option.match(config.inference, {
    onNone: () => Effect.succeed(Option.none<InferenceHandle>()),
    onSome: (instruction) =>
      Effect.gen(function*() {
        if (settings.inferenceMode === "disabled") {
          const reason = "the config instructs inference, but CYNODE_INFERENCE_MODE=disabled on this node"
          yield* ackFailed(client, settings, config.configVersion, "local_policy_refused", reason)
          return yield* new InferenceFailed({ reason, check: "CYNODE_INFERENCE_MODE, or the node's inference setting on the control plane", type: "local_policy_refused" })
        }
        const plan = {
          nodeSlug: settings.nodeSlug,
          image: Option.getOrElse(instruction.image, () => settings.ollamaImage),
          port: instruction.port,
          containerName: settings.ollamaContainerName,
          env: instruction.env,
          readyTimeoutSeconds: settings.ollamaReadyTimeoutSeconds
        }
        const handle = yield* Effect.acquireRelease(
          startInference(runtime, plan),
          (h) =>
            stopInference(runtime, h).pipe(
              Effect.tap(() => Option.isSome(h.containerId) ? Effect.logInfo("inference container stopped (kept)") : Effect.void),
              Effect.catchAll((e) =>
                Effect.logError("inference container did not stop", e.message).pipe(
                  Effect.zipRight(Effect.sync(() => {
                    status.containersLeft = true
                  }))
                )
              )
            )
        ).pipe(
          Effect.catchTag("InferenceStartFailed", (e) =>
            Effect.gen(function*() {
              yield* ackFailed(client, settings, config.configVersion, "inference_start_failed", e.reason)
              return yield* new InferenceFailed({ reason: e.reason, check: e.check, type: "inference_start_failed" })
            })
          )
        )
        return Option.some(handle)
      })
  })

/** Step 8: ack `applied` (sent once; 409 means the version was superseded). */
export const ackApplied = (client: OrchestratorClient, settings: NodeSettings, config: NodeConfig) =>
  client.ack(ackBody(settings.nodeSlug, config.configVersion)).pipe(
    Effect.tap(() => Effect.logInfo("config ack sent").pipe(Effect.annotateLogs({ status: "applied", config_version: config.configVersion }))),
    Effect.mapError((e) => new AckFailed({ reason: describeOrchestrator(e), check: orchestratorCheck(e, settings) }))
  )

// ---- the pipeline ----------------------------------------------------------------------------------------------

/**
 * Runs the startup, then serves until interrupted (SIGINT/SIGTERM). Shutdown, in finalizer order: `/readyz` 503
 * and no new jobs, running jobs get `CYNODE_SHUTDOWN_GRACE_SECONDS`; the report loop ends; the inference
 * container is stopped (10 s grace) and kept; the Worker API closes; the JWT refresher ends.
 */
export const runNode = (status: ShutdownStatus) =>
  Effect.scoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const { snapshot, timed } = makeTimings()
    const startup = Effect.gen(function*() {
      const settings = yield* timed("decode_env", decodeEnvironment)
      yield* Effect.annotateLogsScoped({ node: settings.nodeSlug })
      const runtime = yield* timed("checks", runChecks(settings))

      const observation = yield* Ref.make<InferenceObservation>(NO_INFERENCE)
      const reachable = yield* Ref.make(false)
      const measure = yield* makeMeasure({ settings, runtime, inference: observation, orchestratorReachable: reachable })
      const client = yield* makeOrchestratorClient({
        orchestratorUrl: settings.orchestratorUrl,
        psk: settings.psk,
        waitSeconds: settings.orchestratorWaitSeconds,
        capability: measure
      })

      yield* timed("register", register(client, settings))
      yield* Ref.set(reachable, true)
      const raw = yield* timed("fetch_config", fetchConfig(client, settings))
      const config = yield* timed("validate_config", validate(client, settings, raw))
      const worker = yield* timed("start_worker_api", startWorkerApi(client, settings, config, runtime, scope))
      const inference = yield* timed("start_inference", startInferenceStep(client, settings, config, runtime, status))
      if (Option.isSome(inference)) {
        yield* Ref.set(observation, { ...NO_INFERENCE, existingService: inference.value.existingService, running: true })
      }
      yield* timed("ack_applied", ackApplied(client, settings, config))
      yield* worker.state.markReady
      const refresher = yield* makeConfigRefresher({ client, nodeSlug: settings.nodeSlug, applied: config, worker: worker.state })
      yield* heartbeatLoop(
        settings.heartbeatIntervalSeconds,
        client.heartbeat(Duration.millis(Math.min(10_000, Math.max(1_000, settings.heartbeatIntervalSeconds * 2_000)))),
        refresher.onIssued
      )

      const reporter: ReporterOptions = {
        intervalSeconds: settings.reportIntervalSeconds,
        runtime,
        inference,
        observation,
        orchestratorReachable: reachable,
        measure,
        send: client.report
      }
      yield* timed("first_report", reportOnce(reporter))
      yield* reportLoop(reporter)
      // Added last, so it runs first on shutdown: drain the jobs while the inference server is still up.
      yield* Effect.addFinalizer(() =>
        Effect.logInfo("shutting down: not ready, no new jobs, waiting for running jobs").pipe(
          Effect.zipRight(worker.jobs.shutdown)
        )
      )
      return { settings, config, inference }
    })

    const started = yield* startup.pipe(
      Effect.tapError((e) =>
        Effect.logError("node startup failed").pipe(
          Effect.annotateLogs({ step: e.step, reason: e.reason, check: e.check, exit_code: e.exitCode, ...snapshot() }),
          Effect.zipRight(Effect.sync(() => process.stderr.write(`${describeFailure(e)}\n`)))
        )
      )
    )
    yield* Effect.logInfo("node startup complete").pipe(
      Effect.annotateLogs({
        config_version: started.config.configVersion,
        inference: Option.match(started.inference, {
          onNone: () => "none",
          onSome: (h) => (h.existingService ? "existing service" : h.reused ? "reused container" : "started container")
        }),
        ...snapshot()
      })
    )
    return yield* Effect.never
  }))

/**
 * The exit code after a clean stop (worker-node.md §3): 0, or 6 when containers failed to stop. A failed step exits
 * with the code its error carries (`exitCode`), read by runProgram.
 */
export const shutdownExitCode = (status: ShutdownStatus): number => (status.containersLeft ? 6 : 0)
