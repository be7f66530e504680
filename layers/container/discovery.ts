import { Duration, Effect, Option } from "effect"
import { endpointUrl, parseEndpoint, ping, unixEndpoint, type Endpoint } from "./engineHttp.ts"
import { RuntimeUnavailable } from "./errors.ts"
import { findExecutable, startPodmanService, type PodmanService } from "./podmanService.ts"

/**
 * Which engine socket to use (`worker-node.md` §1): `CYNODE_CONTAINER_SOCKET`, else `DOCKER_HOST`, else the first
 * default socket that answers a ping (rootless Podman, rootful Podman, Docker). When nothing answers and Podman is
 * installed, `podmanService: "auto"` starts our own `podman system service`: on the configured unix socket path
 * when one was given, else on a socket in a temporary directory. `"never"` fails with `RuntimeUnavailable` instead.
 */

export type PodmanServiceMode = "auto" | "never"

export interface DiscoveryOptions {
  /** `CYNODE_CONTAINER_SOCKET`: `unix:///path`, `/path` or `tcp://host:port`. */
  readonly socket?: string | undefined
  /** `DOCKER_HOST`, used when `socket` is not set. */
  readonly dockerHost?: string | undefined
  /** `CYNODE_PODMAN_SERVICE`; default `auto`. */
  readonly podmanService?: PodmanServiceMode | undefined
  /** `XDG_RUNTIME_DIR`, for the rootless Podman socket. */
  readonly xdgRuntimeDir?: string | undefined
  /** How long one ping may take before the socket counts as dead; default 2 s. */
  readonly pingTimeout?: Duration.DurationInput | undefined
}

export interface Discovered {
  readonly endpoint: Endpoint
  /** Where the endpoint came from. */
  readonly source: "CYNODE_CONTAINER_SOCKET" | "DOCKER_HOST" | "default" | "own-podman-service"
  /** Set when we started the service ourselves; it stops when the discovering scope closes. */
  readonly service: PodmanService | undefined
}

/** Default sockets in order of preference. */
export const defaultCandidates = (xdgRuntimeDir: string | undefined, uid: number): ReadonlyArray<Endpoint> => {
  const runtimeDir = xdgRuntimeDir ?? (uid === 0 ? undefined : `/run/user/${uid}`)
  return [
    ...(runtimeDir === undefined ? [] : [unixEndpoint(`${runtimeDir}/podman/podman.sock`)]),
    unixEndpoint("/run/podman/podman.sock"),
    unixEndpoint("/var/run/docker.sock")
  ]
}

const unavailable = (message: string, tried: ReadonlyArray<Endpoint>) =>
  new RuntimeUnavailable({ message, tried: tried.map(endpointUrl) })

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

export const discover = (options: DiscoveryOptions) =>
  Effect.gen(function* () {
    const mode = options.podmanService ?? "auto"
    const pingMs = Duration.toMillis(Duration.decode(options.pingTimeout ?? "2 seconds"))
    const explicitName =
      options.socket !== undefined ? "CYNODE_CONTAINER_SOCKET" : options.dockerHost !== undefined ? "DOCKER_HOST" : undefined
    const explicitValue = options.socket ?? options.dockerHost
    let explicit: Endpoint | undefined
    if (explicitName !== undefined && explicitValue !== undefined) {
      explicit = parseEndpoint(explicitValue)
      if (explicit === undefined) {
        return yield* unavailable(
          `${explicitName} must be unix:///path/to.sock or tcp://host:port, got ${JSON.stringify(explicitValue)}`,
          []
        )
      }
    }
    const candidates = explicit === undefined ? defaultCandidates(options.xdgRuntimeDir, process.getuid?.() ?? 0) : [explicit]

    // Ping all candidates at once (a hung socket costs one timeout, not one per candidate); prefer by order.
    const answers = yield* Effect.forEach(
      candidates,
      (endpoint) =>
        Effect.tryPromise(() => ping(endpoint, pingMs)).pipe(
          Effect.as(Option.none<string>()),
          Effect.catchAll((e) => Effect.succeed(Option.some(`${endpointUrl(endpoint)}: ${reason(e.cause)}`)))
        ),
      { concurrency: "unbounded" }
    )
    const live = candidates.find((_, i) => Option.isNone(answers[i]!))
    if (live !== undefined) {
      return { endpoint: live, source: explicitName ?? "default", service: undefined } satisfies Discovered
    }

    const failures = answers.flatMap((a) => Option.toArray(a)).join("; ")
    const podman = findExecutable("podman")
    const setting = explicitName === undefined ? "" : ` (from ${explicitName})`
    if (mode === "never" || podman === undefined || explicit?._tag === "Tcp") {
      const why =
        mode === "never"
          ? "starting our own podman service is disabled (CYNODE_PODMAN_SERVICE=never)"
          : podman === undefined
            ? "podman is not installed, so none can be started (apt-get install -y podman runc)"
            : "a tcp:// endpoint cannot be served by a local podman service"
      return yield* unavailable(
        `no container engine answered${setting}: ${failures}. Check that the Docker daemon or ` +
          `\`podman system service\` is running and its socket is readable by this user; ${why}.`,
        candidates
      )
    }

    const service = yield* startPodmanService({
      podman,
      runc: findExecutable("runc") !== undefined,
      ...(explicit?._tag === "Unix" ? { socketPath: explicit.socketPath } : {})
    })
    return { endpoint: service.endpoint, source: "own-podman-service", service } satisfies Discovered
  }).pipe(Effect.withSpan("ContainerRuntime.discover"))
