import { Config, Context, Duration, Effect, Layer, Option, Schedule, Schema, type Scope } from "effect"
import Docker from "dockerode"
import { discover, type Discovered, type DiscoveryOptions, type PodmanServiceMode } from "./container/discovery.ts"
import { call, endpointUrl, open, ping, upgrade, type Endpoint } from "./container/engineHttp.ts"
import {
  containerError,
  engineError,
  imageError,
  ImageMissing,
  startError,
  RuntimeUnavailable,
  type ContainerConflict,
  type ContainerFailed,
  type ContainerNotFound
} from "./container/errors.ts"
import type { CapturedOutput, OutputListener } from "./container/frames.ts"
import { readFramed, type OutputCaps, type OutputReader } from "./container/output.ts"
import type { PodmanService } from "./container/podmanService.ts"
import { managedLabels, toCreateOptions, type ContainerSpec } from "./container/spec.ts"

/**
 * The container engine (Docker Engine API through dockerode, Podman's compatible API included). One service for
 * the worker API's sandboxes and the node manager's inference container. Every container it creates carries
 * `io.cynode.managed=true`, explicit nofile/nproc ulimits and no TTY (so output is framed and demultiplexed here).
 *
 * Learning that a container exited is the slow part on Podman (`platform.md`): the compatible wait answers about
 * 0.2 s after the exit (measured here). `run` therefore attaches before start and treats the end of the attach stream as the exit signal, then
 * reads the exit code with one inspect (falling back to a wait in the rare case the engine still says running).
 * The standalone `wait` uses Podman's libpod endpoint with a 20 ms interval, and the compatible wait on Docker.
 */

export { ContainerConflict, ContainerFailed, ContainerNotFound, ImageMissing, RuntimeUnavailable } from "./container/errors.ts"
export type { ContainerError } from "./container/errors.ts"
export type { CapturedOutput, OutputListener, OutputStreamName } from "./container/frames.ts"
export type { OutputCaps } from "./container/output.ts"
export type { ContainerSpec, PortPublish } from "./container/spec.ts"
export { MANAGED_LABEL } from "./container/spec.ts"
export type { DiscoveryOptions, PodmanServiceMode } from "./container/discovery.ts"

export type EngineName = "podman" | "docker"

export interface EngineVersion {
  readonly engine: EngineName
  readonly version: string
  readonly apiVersion: string
}

export interface EngineInfo extends EngineVersion {
  readonly rootless: boolean
  /** `unix:///…` or `tcp://…`. */
  readonly endpoint: string
  readonly source: Discovered["source"]
  /** The pid of the podman service we started ourselves, if we did. */
  readonly ownServicePid: number | undefined
}

export interface ImageDetails {
  readonly id: string
  readonly labels: Readonly<Record<string, string>>
}

export interface EnsureImageOptions {
  /** Try a pull when the image is not present locally; default false (CyNode's images are built locally). */
  readonly pull?: boolean
  /** Upper bound for that pull; default 30 s. */
  readonly pullTimeout?: Duration.DurationInput
}

export interface ContainerDetails {
  readonly id: string
  readonly name: string
  readonly image: string
  readonly labels: Readonly<Record<string, string>>
  /** Engine state word: created, running, exited, stopped (Podman, before cleanup), paused, … */
  readonly status: string
  readonly running: boolean
  readonly exitCode: number
  readonly oomKilled: boolean
  readonly startedAt: string
  readonly finishedAt: string
  /** Health status when the image or create declared a healthcheck. */
  readonly health: string | undefined
  readonly raw: Docker.ContainerInspectInfo
}

export interface ContainerSummary {
  readonly id: string
  readonly names: ReadonlyArray<string>
  readonly image: string
  readonly state: string
  readonly labels: Readonly<Record<string, string>>
}

export interface Attachment {
  /** Completes when the engine closes the output: the container exited, or the connection broke. */
  readonly closed: Effect.Effect<CapturedOutput>
  /** Output received so far. */
  readonly snapshot: Effect.Effect<CapturedOutput>
}

export interface RunOptions {
  /** The container is stopped (grace, then SIGKILL) when it runs longer. */
  readonly timeout: Duration.DurationInput
  /** Bytes kept per stream; the rest is drained and counted. Default 262144 (`CYNODE_MAX_OUTPUT_BYTES`). */
  readonly maxOutputBytes?: number
  /** Between SIGTERM and SIGKILL on timeout; default 2 s. */
  readonly stopGrace?: Duration.DurationInput
}

export interface RunResult extends CapturedOutput {
  readonly containerId: string
  readonly exitCode: number
  /** Just before the start call. */
  readonly startedAt: Date
  /** When the exit was observed (after the stop, on timeout). */
  readonly endedAt: Date
  readonly timedOut: boolean
}

export type RunError = ImageMissing | ContainerConflict | ContainerNotFound | ContainerFailed | RuntimeUnavailable
type OnContainer = ContainerNotFound | ContainerConflict | ContainerFailed | RuntimeUnavailable
type OnStart = ContainerNotFound | ContainerFailed | RuntimeUnavailable
type OnEngine = ContainerFailed | RuntimeUnavailable

export interface ContainerRuntimeShape {
  readonly engine: EngineName
  /** `unix:///…` or `tcp://…`. */
  readonly endpoint: string
  /** Set when this layer started its own podman service (stopped when the layer's scope closes). */
  readonly ownService: PodmanService | undefined
  readonly ping: Effect.Effect<void, RuntimeUnavailable>
  readonly version: Effect.Effect<EngineVersion, OnEngine>
  readonly info: Effect.Effect<EngineInfo, OnEngine>
  /** Local lookup; with `pull: true` a bounded pull attempt. Fails with `ImageMissing` when the image is not there. */
  readonly ensureImage: (image: string, options?: EnsureImageOptions) => Effect.Effect<ImageDetails, ImageMissing | OnEngine>
  /** Creates (does not start) a container; returns its id. */
  readonly create: (spec: ContainerSpec) => Effect.Effect<string, ImageMissing | ContainerConflict | OnEngine>
  /** A process that cannot start (command not found, bad user) fails with `ContainerFailed`. */
  readonly start: (id: string) => Effect.Effect<void, OnStart>
  /** Waits until the container has exited; returns its exit code. */
  readonly wait: (id: string) => Effect.Effect<number, OnContainer>
  /**
   * Attaches to stdout/stderr (call before `start` to see everything); the connection closes with the scope.
   * `listener` sees each kept piece of output as it arrives.
   */
  readonly attach: (id: string, caps: OutputCaps, listener?: OutputListener) => Effect.Effect<Attachment, OnStart, Scope.Scope>
  /** The output so far (not following), demultiplexed and capped. Needs the engine's default log driver. */
  readonly logs: (id: string, caps: OutputCaps) => Effect.Effect<CapturedOutput, OnContainer>
  readonly kill: (id: string, signal?: string) => Effect.Effect<void, OnContainer>
  /** SIGTERM (or the image's stop signal), SIGKILL after `grace` (default 2 s). Already stopped is not an error. */
  readonly stop: (id: string, grace?: Duration.DurationInput) => Effect.Effect<void, OnContainer>
  /** Force-removes the container and its anonymous volumes. Already gone is not an error. */
  readonly remove: (id: string) => Effect.Effect<void, ContainerConflict | OnEngine>
  readonly inspect: (id: string) => Effect.Effect<ContainerDetails, OnContainer>
  /** CyNode-managed containers (running or not) carrying all the given labels. */
  readonly listByLabel: (labels: Readonly<Record<string, string>>) => Effect.Effect<ReadonlyArray<ContainerSummary>, OnEngine>
  /**
   * create + attach + start + wait (raced against the timeout: stop, then wait) + remove, the removal guaranteed by
   * the scope even on interruption. Output comes from the attach stream, so the container keeps no log file.
   */
  readonly run: (spec: ContainerSpec, options: RunOptions) => Effect.Effect<RunResult, RunError>
}

export const DEFAULT_MAX_OUTPUT_BYTES = 262_144
const LIBPOD = "/v4.0.0/libpod"
const WAIT_INTERVAL = "20ms"
const DRAIN_TIMEOUT = Duration.seconds(2)
/**
 * Every bounded engine call's limit: an engine that hangs (restarting, overloaded) must not hold a job forever.
 * Long-lived calls (wait, attach, logs, pull) are bounded by their callers instead.
 */
const CALL_TIMEOUT = Duration.seconds(30)
/** Safe to repeat (reads, stop, kill, remove): retried on a dead connection or a 5xx, with backoff, for about 30 s. */
const RETRY_SCHEDULE = Schedule.exponential("100 millis", 2).pipe(
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.upTo("30 seconds")
)

/** An engine that is down or answered 5xx may answer the same call next time; 4xx answers are final. */
const transient = (e: { readonly _tag: string }) =>
  e._tag === "RuntimeUnavailable" || (e._tag === "ContainerFailed" && ((e as ContainerFailed).status === 0 || (e as ContainerFailed).status >= 500))

const EngineVersionAnswer = Schema.Struct({
  Version: Schema.String,
  ApiVersion: Schema.String,
  Components: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ Name: Schema.String, Version: Schema.String }))))
})
const EngineInfoAnswer = Schema.Struct({ SecurityOptions: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))) })
/** Exit codes as the wait endpoints answer them: Podman's libpod a bare number, Docker `{"StatusCode": n}`. */
const PodmanWaitAnswer: Schema.Schema<number, string> = Schema.parseJson(Schema.Int)
const DockerWaitAnswer: Schema.Schema<number, string> = Schema.parseJson(
  Schema.transform(Schema.Struct({ StatusCode: Schema.Int }), Schema.Int, {
    strict: true,
    decode: (answer) => answer.StatusCode,
    encode: (code) => ({ StatusCode: code })
  })
)
const decodeJson = <A, I>(schema: Schema.Schema<A, I>) => Schema.decodeUnknown(Schema.parseJson(schema))

const dockerFor = (endpoint: Endpoint): Docker =>
  // `host: undefined` explicitly: dockerode merges DOCKER_HOST defaults, which would override a socket path.
  endpoint._tag === "Unix"
    ? new Docker({ socketPath: endpoint.socketPath, host: undefined })
    : new Docker({ host: endpoint.host, port: endpoint.port, protocol: "http" })

const containerPath = (id: string) => `/containers/${encodeURIComponent(id)}`

/** The two streams' caps from one per-stream byte limit. */
const capsOf = (maxBytes: number): OutputCaps => ({ stdout: maxBytes, stderr: maxBytes })

export const make = (options: DiscoveryOptions): Effect.Effect<ContainerRuntimeShape, RuntimeUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const discovered = yield* discover(options)
    const { endpoint } = discovered
    const url = endpointUrl(endpoint)
    const docker = dockerFor(endpoint)

    const timedOut = (operation: string) =>
      new RuntimeUnavailable({
        message: `the container engine at ${url} did not answer ${operation} within ${Duration.format(CALL_TIMEOUT)}`,
        tried: [url]
      })

    /** One engine call; bounded unless `unbounded` (the call's own caller bounds it), aborted on interruption. */
    const engineCall = <A, E>(
      operation: string,
      onError: (e: unknown) => E,
      f: (signal: AbortSignal) => Promise<A>,
      unbounded = false
    ) =>
      Effect.tryPromise({ try: f, catch: onError }).pipe(
        (call) => unbounded ? call : Effect.timeoutFail(call, { duration: CALL_TIMEOUT, onTimeout: () => timedOut(operation) }),
        Effect.withSpan(`ContainerRuntime.${operation}`)
      )

    /** For calls that are safe to repeat. */
    const retried = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.retry(effect, { schedule: RETRY_SCHEDULE, while: transient })

    const json = <A, I>(operation: string, path: string, schema: Schema.Schema<A, I>) =>
      retried(engineCall(operation, engineError(operation, url), (signal) => call(endpoint, { method: "GET", path, signal }))).pipe(
        Effect.flatMap((body) => decodeJson(schema)(body.toString("utf8"))),
        Effect.catchTag("ParseError", (e) => Effect.fail(engineError(operation, url)(e)))
      )

    const version = json("version", "/version", EngineVersionAnswer).pipe(
      Effect.map((v): EngineVersion => {
        const podman = (v.Components ?? []).find((c) => c.Name === "Podman Engine")
        return podman === undefined
          ? { engine: "docker", version: v.Version, apiVersion: v.ApiVersion }
          : { engine: "podman", version: podman.Version, apiVersion: v.ApiVersion }
      })
    )
    const detected = yield* version.pipe(
      Effect.catchTag("ContainerFailed", (e) =>
        Effect.fail(
          new RuntimeUnavailable({ message: `${url} answered a ping but not GET /version: ${e.message}`, tried: [url] })
        )
      )
    )

    const info = Effect.gen(function* () {
      const v = yield* version
      const answer = yield* json("info", "/info", EngineInfoAnswer)
      return {
        ...v,
        rootless: (answer.SecurityOptions ?? []).some((o) => o.split(",").includes("name=rootless")),
        endpoint: url,
        source: discovered.source,
        ownServicePid: discovered.service?.pid
      } satisfies EngineInfo
    })

    const ping_ = engineCall(
      "ping",
      (e) =>
        new RuntimeUnavailable({
          message: `the container engine at ${url} did not answer a ping: ${e instanceof Error ? e.message : String(e)}`,
          tried: [url]
        }),
      () => ping(endpoint, 2000)
    )

    const inspectImage = (image: string) =>
      engineCall("ensureImage", imageError("ensureImage", image, url), () => docker.getImage(image).inspect()).pipe(
        Effect.map((i): ImageDetails => ({ id: i.Id, labels: i.Config.Labels ?? {} }))
      )

    const pull = (image: string, timeout: Duration.DurationInput) =>
      engineCall("pull", imageError("pull", image, url), (abortSignal) =>
        new Promise<void>((resolve, reject) => {
          docker.pull(image, { abortSignal }, (err: unknown, stream: NodeJS.ReadableStream | undefined) => {
            if (err !== null && err !== undefined) return reject(err)
            if (stream === undefined) return reject(new Error("no pull stream"))
            docker.modem.followProgress(stream, (doneErr: unknown, events: Array<{ error?: string }>) => {
              const failed = events.find((e) => typeof e.error === "string")
              if (doneErr !== null && doneErr !== undefined) reject(doneErr)
              else if (failed?.error !== undefined) reject(new Error(failed.error))
              else resolve()
            })
          })
        })
      ).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new ImageMissing({ image, message: `pulling ${image} took longer than ${Duration.format(Duration.decode(timeout))}` })
        })
      )

    const ensureImage = (image: string, opts: EnsureImageOptions = {}) =>
      inspectImage(image).pipe(
        Effect.catchTag("ImageMissing", (missing) =>
          opts.pull === true
            ? pull(image, opts.pullTimeout ?? "30 seconds").pipe(
                Effect.mapError((e) =>
                  e._tag === "ImageMissing"
                    ? e
                    : new ImageMissing({
                        image,
                        message: `image ${image} is not present locally and could not be pulled: ${e.message}`
                      })
                ),
                Effect.zipRight(inspectImage(image))
              )
            : Effect.fail(missing)
        ),
        Effect.catchTag("ContainerConflict", (e) => Effect.die(e)), // image lookups and pulls never answer 409
        Effect.withSpan("ContainerRuntime.ensureImage", { attributes: { image } })
      )

    const create = (spec: ContainerSpec) =>
      engineCall("create", imageError("create", spec.image, url, spec.name), async (abortSignal) => {
        const container = await docker.createContainer({ ...toCreateOptions(spec), abortSignal })
        return container.id
      }).pipe(Effect.annotateSpans({ image: spec.image }))

    const start = (id: string) =>
      engineCall("start", startError("start", id, url), (abortSignal) => docker.getContainer(id).start({ abortSignal })).pipe(
        Effect.asVoid
      )

    const inspect = (id: string) =>
      retried(engineCall("inspect", containerError("inspect", id, url), (abortSignal) =>
        docker.getContainer(id).inspect({ abortSignal })
      )).pipe(
        Effect.map(
          (raw): ContainerDetails => ({
            id: raw.Id,
            name: raw.Name.replace(/^\//, ""),
            image: raw.Config.Image,
            labels: raw.Config.Labels ?? {},
            status: raw.State.Status,
            running: raw.State.Running,
            exitCode: raw.State.ExitCode,
            oomKilled: raw.State.OOMKilled,
            startedAt: raw.State.StartedAt,
            finishedAt: raw.State.FinishedAt,
            health: raw.State.Health?.Status,
            raw
          })
        )
      )

    // Podman: the libpod wait polls at our interval and answers the bare exit code; "stopped" is before Podman's
    // cleanup and "exited" after it, so either ends the wait. Docker: the compatible wait (prompt there), as JSON.
    const waitPath = (id: string) =>
      detected.engine === "podman"
        ? `${LIBPOD}${containerPath(id)}/wait?condition=stopped&condition=exited&interval=${WAIT_INTERVAL}`
        : `${containerPath(id)}/wait`
    const exitCodeOf = detected.engine === "podman" ? PodmanWaitAnswer : DockerWaitAnswer

    const wait = (id: string) =>
      engineCall("wait", containerError("wait", id, url), (signal) =>
        call(endpoint, { method: "POST", path: waitPath(id), signal }), true
      ).pipe(
        Effect.flatMap((body) => Schema.decodeUnknown(exitCodeOf)(body.toString("utf8"))),
        Effect.catchTag("ParseError", (e) => Effect.fail(containerError("wait", id, url)(e)))
      )

    const attach = (id: string, caps: OutputCaps, listener?: OutputListener) =>
      Effect.acquireRelease(
        engineCall("attach", startError("attach", id, url), (signal) =>
          upgrade(endpoint, { method: "POST", path: `${containerPath(id)}/attach?stream=1&stdout=1&stderr=1`, signal })
        ).pipe(Effect.map((stream) => readFramed(stream, caps, listener))),
        (reader) => Effect.sync(() => reader.close())
      ).pipe(
        Effect.map(
          (reader: OutputReader): Attachment => ({
            closed: Effect.promise(() => reader.closed),
            snapshot: Effect.sync(() => reader.snapshot())
          })
        )
      )

    const logs = (id: string, caps: OutputCaps) =>
      engineCall("logs", containerError("logs", id, url), async (signal) => {
        const stream = await open(endpoint, { method: "GET", path: `${containerPath(id)}/logs?stdout=1&stderr=1`, signal })
        return readFramed(stream, caps).closed
      }, true)

    // 304 = already stopped (Docker); a kill of a container that is not running is a 409 on both engines.
    const alreadyStopped = (e: OnContainer) => e._tag === "ContainerFailed" && e.status === 304

    const kill = (id: string, signal = "SIGKILL") =>
      retried(engineCall("kill", containerError("kill", id, url), (abortSignal) =>
        docker.getContainer(id).kill({ signal, abortSignal })
      )).pipe(
        Effect.asVoid,
        Effect.catchIf(alreadyStopped, () => Effect.void)
      )

    const stop = (id: string, grace: Duration.DurationInput = "2 seconds") =>
      retried(engineCall("stop", containerError("stop", id, url), (abortSignal) =>
        docker.getContainer(id).stop({ t: Math.ceil(Duration.toSeconds(Duration.decode(grace))), abortSignal })
      )).pipe(Effect.asVoid, Effect.catchIf(alreadyStopped, () => Effect.void))

    const remove = (id: string) =>
      engineCall("remove", containerError("remove", id, url), (abortSignal) =>
        docker.getContainer(id).remove({ force: true, v: true, abortSignal })
      ).pipe(Effect.asVoid, Effect.catchTag("ContainerNotFound", () => Effect.void))

    const listByLabel = (labels: Readonly<Record<string, string>>) =>
      retried(engineCall("listByLabel", engineError("listByLabel", url), (abortSignal) =>
        docker.listContainers({
          all: true,
          filters: { label: Object.entries(managedLabels(labels)).map(([k, v]) => `${k}=${v}`) },
          abortSignal
        })
      )).pipe(
        Effect.map((list) =>
          list.map(
            (c): ContainerSummary => ({
              id: c.Id,
              names: c.Names.map((n) => n.replace(/^\//, "")),
              image: c.Image,
              state: c.State,
              labels: c.Labels
            })
          )
        )
      )

    // After the attach stream closed: normally one inspect already shows the exit code. The stream also closes when
    // the engine's connection breaks (the engine restarting) while the container runs on: then inspect is polled
    // with backoff until it shows the exit, and the engine's own wait is used as soon as it answers again.
    const exitCodeAfterOutputClosed = (id: string) =>
      inspect(id).pipe(Effect.flatMap((d) => (d.running ? Effect.raceFirst(retried(wait(id)), polledExit(id)) : Effect.succeed(d.exitCode))))

    /** Inspect with backoff until the container is no longer running: the exit signal recovered when it was lost. */
    const polledExit = (id: string): Effect.Effect<number, OnContainer> =>
      Effect.gen(function*() {
        let delay = 250
        for (;;) {
          yield* Effect.sleep(Duration.millis(delay))
          delay = Math.min(delay * 2, 2000)
          const details = yield* inspect(id).pipe(Effect.asSome, Effect.catchIf(transient, () => Effect.succeedNone))
          if (Option.isSome(details) && !details.value.running) return details.value.exitCode
        }
      })

    const removeReliably = (id: string) =>
      remove(id).pipe(
        Effect.retry({ times: 3, schedule: Schedule.spaced("200 millis") }),
        Effect.catchAll((e) =>
          Effect.logWarning("container not removed; the reaper will retry").pipe(
            Effect.annotateLogs({ container_id: id, error: e.message })
          )
        )
      )

    const run = (spec: ContainerSpec, runOptions: RunOptions) =>
      Effect.scoped(
        Effect.gen(function* () {
          const caps = capsOf(runOptions.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES)
          const id = yield* Effect.acquireRelease(create({ ...spec, logDriver: spec.logDriver ?? "none" }), removeReliably)
          const attachment = yield* attach(id, caps)
          const startedAt = new Date()
          yield* start(id)
          // The attach stream's end is the prompt exit signal; the inspect poll beside it recovers a lost one.
          const finished = yield* Effect.raceFirst(
            attachment.closed.pipe(Effect.zipRight(exitCodeAfterOutputClosed(id))),
            polledExit(id)
          ).pipe(Effect.timeoutOption(runOptions.timeout))
          const exitCode = yield* Option.match(finished, {
            onSome: Effect.succeed,
            onNone: () =>
              stop(id, runOptions.stopGrace ?? "2 seconds").pipe(
                Effect.catchTag("ContainerConflict", () => Effect.void),
                Effect.zipRight(wait(id))
              )
          })
          const endedAt = new Date()
          const output = yield* attachment.closed.pipe(
            Effect.timeoutOption(DRAIN_TIMEOUT),
            Effect.flatMap(Option.match({ onSome: Effect.succeed, onNone: () => attachment.snapshot }))
          )
          const timedOut = Option.isNone(finished)
          return { ...output, containerId: id, exitCode, startedAt, endedAt, timedOut } satisfies RunResult
        })
      ).pipe(Effect.withSpan("ContainerRuntime.run", { attributes: { image: spec.image } }))

    yield* Effect.logDebug("container runtime ready").pipe(
      Effect.annotateLogs({ endpoint: url, engine: detected.engine, source: discovered.source })
    )

    return {
      engine: detected.engine,
      endpoint: url,
      ownService: discovered.service,
      ping: ping_,
      version,
      info,
      ensureImage,
      create,
      start,
      wait,
      attach,
      logs,
      kill,
      stop,
      remove,
      inspect,
      listByLabel,
      run
    } satisfies ContainerRuntimeShape
  })

const optionalEnv = (name: string) =>
  Config.string(name).pipe(
    Config.option,
    Config.map(Option.filter((v) => v.trim() !== "")),
    Config.map(Option.getOrUndefined)
  )

/** `CYNODE_CONTAINER_SOCKET`, `DOCKER_HOST`, `CYNODE_PODMAN_SERVICE` (auto|never), `XDG_RUNTIME_DIR`. */
export const discoveryConfig: Config.Config<DiscoveryOptions> = Config.all({
  socket: optionalEnv("CYNODE_CONTAINER_SOCKET"),
  dockerHost: optionalEnv("DOCKER_HOST"),
  podmanService: Config.literal("auto", "never")("CYNODE_PODMAN_SERVICE").pipe(Config.withDefault<PodmanServiceMode>("auto")),
  xdgRuntimeDir: optionalEnv("XDG_RUNTIME_DIR")
})

export class ContainerRuntime extends Context.Tag("cynode/ContainerRuntime")<ContainerRuntime, ContainerRuntimeShape>() {
  /** With explicit discovery options (tests, tools). */
  static readonly layer = (options: DiscoveryOptions) => Layer.scoped(ContainerRuntime, make(options))
  /** Discovery from the environment. */
  static readonly Live = Layer.scoped(ContainerRuntime, Effect.flatMap(discoveryConfig, make))
}
