import { HttpClient } from "@effect/platform"
import { Data, Duration, Effect, Option, Schedule } from "effect"
import type { ContainerDetails, ContainerRuntimeShape, ContainerSpec } from "../../layers/ContainerRuntime.ts"

/**
 * Exactly one node-local Ollama container (worker-node.md §5, DECISIONS.md "Ollama is private to the node").
 *
 * - Published ONLY on `127.0.0.1:<port>` (container port 11434), nothing else; volume `cynode-ollama-models` at
 *   `/root/.ollama`; no restart policy; labels `io.cynode.managed=true`, `io.cynode.node=<slug>`,
 *   `io.cynode.role=inference`.
 * - Reuse: our labelled container is kept when it runs healthy with the same image and binding; any other container
 *   with that name (stopped, unhealthy, foreign, other image) is replaced.
 * - A foreign service already answering on the port is used as is (`existing_service`), no container started.
 * - Health: `GET /api/version` every 500 ms until 200 with a `version`, then `GET /api/tags` must answer 200 with a
 *   `models` array, all within the ready timeout; a container that exits meanwhile fails at once, with its logs.
 */

export const CONTAINER_PORT = 11434
export const MODELS_VOLUME = "cynode-ollama-models"
const PULL_TIMEOUT = Duration.minutes(10)
const POLL = Duration.millis(500)
const PROBE_TIMEOUT_MS = 2_000
const STOP_GRACE = Duration.seconds(10)

export class InferenceStartFailed extends Data.TaggedError("InferenceStartFailed")<{
  readonly reason: string
  /** What an operator should look at. */
  readonly check: string
}> {}

export interface InferencePlan {
  readonly nodeSlug: string
  readonly image: string
  readonly port: number
  readonly containerName: string
  readonly env: Readonly<Record<string, string>>
  readonly readyTimeoutSeconds: number
}

export interface InferenceHandle {
  readonly baseUrl: string
  /** Our container, absent when a foreign service on the port is used. */
  readonly containerId: Option.Option<string>
  readonly existingService: boolean
  readonly reused: boolean
}

export const baseUrlFor = (port: number) => `http://127.0.0.1:${port}`

/** A GET of the inference server's JSON through the process's platform HttpClient; failures are their reason. */
const getJson = (url: string) =>
  Effect.gen(function*() {
    const response = yield* Effect.flatMap(HttpClient.HttpClient, (client) => client.get(url))
    const text = yield* response.text
    if (response.status !== 200) return yield* Effect.fail(`${url} answered ${response.status}`)
    return yield* Effect.try({ try: (): unknown => JSON.parse(text), catch: (e) => (e instanceof Error ? e.message : String(e)) })
  }).pipe(
    Effect.timeoutFail({ duration: Duration.millis(PROBE_TIMEOUT_MS), onTimeout: () => `${url} did not answer in time` }),
    Effect.mapError((e) => (typeof e === "string" ? e : e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message))
  )

/** `/api/version` answers 200 with a `version` string. */
export const probeVersion = (baseUrl: string) =>
  getJson(`${baseUrl}/api/version`).pipe(
    Effect.flatMap((body) =>
      typeof body === "object" && body !== null && "version" in body && typeof body.version === "string"
        ? Effect.succeed(body.version)
        : Effect.fail(`${baseUrl}/api/version has no version`)
    )
  )

/** `/api/tags` answers 200 with a `models` array; returns the model names. */
export const probeTags = (baseUrl: string) =>
  getJson(`${baseUrl}/api/tags`).pipe(
    Effect.flatMap((body) =>
      typeof body === "object" && body !== null && "models" in body && Array.isArray(body.models)
        ? Effect.succeed(
          body.models.flatMap((m: unknown) =>
            typeof m === "object" && m !== null && "name" in m && typeof m.name === "string" ? [m.name] : []
          )
        )
        : Effect.fail(`${baseUrl}/api/tags has no models array`)
    )
  )

const labelsFor = (plan: InferencePlan) => ({ "io.cynode.node": plan.nodeSlug, "io.cynode.role": "inference" })

const bindingOf = (details: ContainerDetails) => details.raw.HostConfig.PortBindings?.[`${CONTAINER_PORT}/tcp`]

const isOurs = (plan: InferencePlan, details: ContainerDetails) =>
  details.labels["io.cynode.managed"] === "true" &&
  details.labels["io.cynode.node"] === plan.nodeSlug &&
  details.labels["io.cynode.role"] === "inference"

/** Exactly our binding and nothing else published. */
const sameBinding = (plan: InferencePlan, details: ContainerDetails) => {
  const all = details.raw.HostConfig.PortBindings ?? {}
  const ours = bindingOf(details)
  return Object.keys(all).length === 1 && ours?.length === 1 && ours[0]?.HostIp === "127.0.0.1" &&
    ours[0]?.HostPort === String(plan.port)
}

const specFor = (plan: InferencePlan): ContainerSpec => ({
  image: plan.image,
  name: plan.containerName,
  labels: labelsFor(plan),
  env: plan.env,
  // A network is needed to publish the port; the binding itself is loopback only.
  networkMode: "bridge",
  publish: [{ containerPort: CONTAINER_PORT, hostIp: "127.0.0.1", hostPort: plan.port }],
  binds: [`${MODELS_VOLUME}:/root/.ollama`],
  logDriver: "engine-default"
})

const describeExit = (runtime: ContainerRuntimeShape, details: ContainerDetails) =>
  runtime.logs(details.id, { stdout: 2048, stderr: 2048 }).pipe(
    Effect.map((out) => {
      const tail = Buffer.concat([out.stdout, out.stderr]).toString("utf8").trim().split("\n").slice(-5).join(" | ")
      return `container ${details.name} exited with code ${details.exitCode}${tail === "" ? "" : `; last output: ${tail}`}`
    }),
    Effect.orElseSucceed(() => `container ${details.name} exited with code ${details.exitCode}`)
  )

/** Polls until healthy, the container exits, or the deadline passes. */
const waitHealthy = (runtime: ContainerRuntimeShape, plan: InferencePlan, containerId: string) =>
  Effect.gen(function*() {
    const baseUrl = baseUrlFor(plan.port)
    const deadline = Duration.seconds(plan.readyTimeoutSeconds)
    const versionUp = Effect.gen(function*() {
      const details = yield* runtime.inspect(containerId).pipe(
        Effect.mapError((e) => new InferenceStartFailed({ reason: `cannot inspect the inference container: ${e.message}`, check: "the container runtime" }))
      )
      if (!details.running) {
        const reason = yield* describeExit(runtime, details)
        return yield* Effect.fail(new InferenceStartFailed({
          reason,
          check: `the inference image ${plan.image} (it must serve the Ollama API on port ${CONTAINER_PORT}); the container is kept: inspect ${plan.containerName}`
        }))
      }
      return yield* probeVersion(baseUrl).pipe(Effect.mapError((reason) => ({ _tag: "NotYet" as const, reason })))
    })
    const healthy = versionUp.pipe(
      Effect.retry({ while: (e) => e._tag === "NotYet", schedule: Schedule.spaced(POLL) }),
      Effect.zipRight(probeTags(baseUrl).pipe(Effect.mapError((reason) => ({ _tag: "NotYet" as const, reason })))),
      Effect.catchTag("NotYet", (e) => Effect.fail(new InferenceStartFailed({ reason: e.reason, check: "the inference server's /api/tags" })))
    )
    return yield* healthy.pipe(
      Effect.timeoutFail({
        duration: deadline,
        onTimeout: () =>
          new InferenceStartFailed({
            reason: `ollama not healthy after ${plan.readyTimeoutSeconds}s (GET ${baseUrl}/api/version, then /api/tags)`,
            check: `the container ${plan.containerName} (its logs), or raise CYNODE_OLLAMA_READY_TIMEOUT_SECONDS`
          })
      })
    )
  })

const runtimeFailure = (what: string) => (e: { readonly message: string }) =>
  new InferenceStartFailed({ reason: `${what}: ${e.message}`, check: "the container runtime and the inference image" })

/** Starts (or reuses) the inference container and waits until it is healthy. */
export const startInference = (runtime: ContainerRuntimeShape, plan: InferencePlan) =>
  Effect.gen(function*() {
    const baseUrl = baseUrlFor(plan.port)
    const existing = yield* runtime.inspect(plan.containerName).pipe(
      Effect.map(Option.some),
      Effect.catchTag("ContainerNotFound", () => Effect.succeed(Option.none<ContainerDetails>())),
      Effect.mapError(runtimeFailure("cannot inspect an existing inference container"))
    )
    if (Option.isSome(existing)) {
      const d = existing.value
      const reusable = isOurs(plan, d) && d.running && d.image === plan.image && sameBinding(plan, d) &&
        (yield* Effect.isSuccess(probeVersion(baseUrl).pipe(Effect.zipRight(probeTags(baseUrl)))))
      if (reusable) {
        yield* Effect.logInfo("reusing the running inference container").pipe(Effect.annotateLogs({ container: d.name }))
        return { baseUrl, containerId: Option.some(d.id), existingService: false, reused: true } satisfies InferenceHandle
      }
      yield* Effect.logInfo("replacing a container with the inference container's name").pipe(
        Effect.annotateLogs({ container: d.name, state: d.status, image: d.image })
      )
      yield* runtime.remove(d.id).pipe(Effect.mapError(runtimeFailure(`cannot remove the old container ${d.name}`)))
    }
    // Something else already serves Ollama on the port: use it, start nothing (§5 "A foreign service…").
    if (yield* Effect.isSuccess(probeVersion(baseUrl))) {
      yield* Effect.logInfo("using an existing inference service on the port").pipe(Effect.annotateLogs({ url: baseUrl }))
      return { baseUrl, containerId: Option.none(), existingService: true, reused: false } satisfies InferenceHandle
    }
    yield* runtime.ensureImage(plan.image, { pull: true, pullTimeout: PULL_TIMEOUT }).pipe(
      Effect.mapError((e) =>
        new InferenceStartFailed({
          reason: e.message,
          check: `that the inference image ${plan.image} exists locally or can be pulled (inference_backend.image / CYNODE_OLLAMA_IMAGE)`
        })
      )
    )
    const id = yield* runtime.create(specFor(plan)).pipe(Effect.mapError(runtimeFailure("cannot create the inference container")))
    yield* Effect.gen(function*() {
      yield* runtime.start(id).pipe(
        Effect.mapError((e) =>
          new InferenceStartFailed({
            reason: `cannot start the inference container: ${e.message}`,
            check: `the inference image ${plan.image} and that 127.0.0.1:${plan.port} is free; the container is kept: inspect ${plan.containerName}`
          })
        )
      )
      yield* Effect.logInfo("inference container started").pipe(
        Effect.annotateLogs({ container: plan.containerName, image: plan.image, address: `127.0.0.1:${plan.port}` })
      )
      yield* waitHealthy(runtime, plan, id)
    }).pipe(
      // Fail-fast (§3): an unhealthy container is stopped but kept for inspection.
      Effect.tapError(() => runtime.stop(id, STOP_GRACE).pipe(Effect.ignore))
    )
    return { baseUrl, containerId: Option.some(id), existingService: false, reused: false } satisfies InferenceHandle
  })

/** Stops our container (10 s grace) and keeps it for the next start; a foreign service is left alone. */
export const stopInference = (runtime: ContainerRuntimeShape, handle: InferenceHandle) =>
  Option.match(handle.containerId, {
    onNone: () => Effect.void,
    onSome: (id) => runtime.stop(id, STOP_GRACE).pipe(Effect.catchTag("ContainerNotFound", () => Effect.void))
  })

/** A report tick (§5 "Monitoring"): probe `/api/tags`; restart our container when it has exited. */
export const monitorInference = (runtime: ContainerRuntimeShape, handle: InferenceHandle) =>
  Effect.gen(function*() {
    const tags = yield* probeTags(handle.baseUrl).pipe(Effect.option)
    if (Option.isSome(tags)) return { running: true, models: tags.value }
    if (Option.isSome(handle.containerId)) {
      const id = handle.containerId.value
      const details = yield* runtime.inspect(id).pipe(Effect.option)
      if (Option.isSome(details) && !details.value.running) {
        yield* Effect.logWarning("inference container has exited; restarting it").pipe(
          Effect.annotateLogs({ container: details.value.name, exit_code: details.value.exitCode })
        )
        yield* runtime.start(id).pipe(Effect.ignore)
      }
    }
    return { running: false, models: [] as ReadonlyArray<string> }
  })
