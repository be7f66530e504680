import { Data } from "effect"
import type { ExitCoded } from "../ExitCode.ts"

/** Expected failures of the container runtime. Callers (worker API, node manager) map them to their own answers. */

/**
 * No engine answers (no socket, dead socket, Podman missing or its service would not start). A program that cannot
 * start without one exits 3 (worker-node.md §3).
 */
export class RuntimeUnavailable extends Data.TaggedError("RuntimeUnavailable")<{
  readonly message: string
  /** The endpoints that were tried, as `unix:///path` or `tcp://host:port`. */
  readonly tried: ReadonlyArray<string>
}> implements ExitCoded {
  get exitCode() {
    return 3
  }
}

/** The image is not present locally and could not be pulled (or pulling was not asked for). */
export class ImageMissing extends Data.TaggedError("ImageMissing")<{
  readonly image: string
  readonly message: string
}> {}

/** The engine does not know the container (already removed, or never created). */
export class ContainerNotFound extends Data.TaggedError("ContainerNotFound")<{
  readonly id: string
  readonly message: string
}> {}

/** The engine refused because of a conflicting state: a name in use, a removal already in progress. */
export class ContainerConflict extends Data.TaggedError("ContainerConflict")<{
  readonly operation: string
  /** The container id or name the operation was about. */
  readonly target: string
  readonly message: string
}> {}

/** Any other engine-side failure of an operation (OCI runtime errors on start, bad requests, 5xx). */
export class ContainerFailed extends Data.TaggedError("ContainerFailed")<{
  readonly operation: string
  /** The container id, name or image the operation was about ("" for engine-wide calls). */
  readonly target: string
  /** HTTP status from the engine, 0 when the failure was not an HTTP answer. */
  readonly status: number
  readonly message: string
}> {}

export type ContainerError = RuntimeUnavailable | ImageMissing | ContainerNotFound | ContainerConflict | ContainerFailed

// Mapping engine failures (dockerode errors, our EngineStatusError, Node socket errors) to the classes above.

const CONNECTION_CODES = new Set([
  "ECONNREFUSED", "ENOENT", "EACCES", "EPERM", "ECONNRESET", "EPIPE", "ENOTSOCK",
  "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"
])

const field = (e: unknown, key: string): unknown =>
  typeof e === "object" && e !== null && key in e ? (e as Record<string, unknown>)[key] : undefined

const statusOf = (e: unknown): number | undefined => {
  const status = field(e, "statusCode")
  return typeof status === "number" ? status : undefined
}

const messageOf = (e: unknown): string => {
  const json = field(e, "json")
  const fromJson = field(json, "message")
  if (typeof fromJson === "string" && fromJson !== "") return fromJson
  return e instanceof Error ? e.message : String(e)
}

const connectionFailure = (e: unknown, operation: string, endpoint: string): RuntimeUnavailable | undefined => {
  const code = field(e, "code")
  if (statusOf(e) !== undefined || typeof code !== "string" || !CONNECTION_CODES.has(code)) return undefined
  return new RuntimeUnavailable({
    message: `the container engine at ${endpoint} did not answer ${operation} (${code}: ${messageOf(e)}); check that it is still running`,
    tried: [endpoint]
  })
}

// Podman answers some state conflicts with 500 where Docker says 409; recognise them by their message.
const PODMAN_CONFLICTS = [/container state improper/i, /is already in use/i]
const isConflict = (status: number | undefined, message: string) =>
  status === 409 || (status === 500 && PODMAN_CONFLICTS.some((re) => re.test(message)))

/** For operations on an existing container: 404 means the container is gone. */
export const containerError = (operation: string, id: string, endpoint: string) =>
  (e: unknown): ContainerNotFound | ContainerConflict | ContainerFailed | RuntimeUnavailable => {
    const down = connectionFailure(e, operation, endpoint)
    if (down !== undefined) return down
    const status = statusOf(e)
    const message = messageOf(e)
    if (status === 404) return new ContainerNotFound({ id, message })
    if (isConflict(status, message)) return new ContainerConflict({ operation, target: id, message })
    return new ContainerFailed({ operation, target: id, status: status ?? 0, message })
  }

/**
 * For start and attach (Podman prepares the container on attach): a refusal there is the OCI runtime failing to
 * start the process (command not found, bad user), not a state conflict.
 */
export const startError = (operation: string, id: string, endpoint: string) =>
  (e: unknown): ContainerNotFound | ContainerFailed | RuntimeUnavailable => {
    const mapped = containerError(operation, id, endpoint)(e)
    return mapped._tag === "ContainerConflict"
      ? new ContainerFailed({ operation, target: id, status: 409, message: mapped.message })
      : mapped
  }

/** For image lookups and container creation: 404 means the image is not there; 409, that the name is taken. */
export const imageError = (operation: string, image: string, endpoint: string, name = image) =>
  (e: unknown): ImageMissing | ContainerConflict | ContainerFailed | RuntimeUnavailable => {
    const down = connectionFailure(e, operation, endpoint)
    if (down !== undefined) return down
    const status = statusOf(e)
    const message = messageOf(e)
    if (status === 404) return new ImageMissing({ image, message: `image ${image} is not present locally: ${message}` })
    if (isConflict(status, message)) return new ContainerConflict({ operation, target: name, message })
    return new ContainerFailed({ operation, target: name, status: status ?? 0, message })
  }

/** For engine-wide calls (version, info, list). */
export const engineError = (operation: string, endpoint: string) =>
  (e: unknown): ContainerFailed | RuntimeUnavailable => connectionFailure(e, operation, endpoint) ??
      new ContainerFailed({ operation, target: "", status: statusOf(e) ?? 0, message: messageOf(e) })
