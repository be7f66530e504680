import { Data, Predicate } from "effect"
import type { ExitCoded } from "../../layers/ExitCode.ts"
import type { FieldError } from "../../schema/problem.ts"

/**
 * Every way a CLI command can fail, each carrying its exit code (`exitCode`, docs/cli.md lists the codes) and with
 * one readable message. Secrets never appear in these messages.
 */

export const ExitCode = {
  ok: 0,
  /** Server error, unexpected answer, local file problem, or a system that is not ready. */
  failed: 1,
  /** Bad command line. */
  usage: 2,
  /** Not logged in, or the gateway refused the credentials or the token (401). */
  authentication: 3,
  /** The gateway refused the request (400, 403, 404, 409, 413, 429, ...). */
  refused: 4,
  /** The gateway (or control plane) could not be reached. */
  unreachable: 5,
  /** The task ended, but not `completed` (failed, canceled, superseded). */
  taskNotCompleted: 6,
  /** `--wait` gave up before the task ended. */
  waitTimedOut: 7
} as const

/** A Problem Details (or other error) answer from a CyNode service. */
export class ApiError extends Data.TaggedError("ApiError")<{
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly errors?: ReadonlyArray<FieldError>
  readonly retryAfterSeconds?: number
}> implements ExitCoded {
  get exitCode() {
    return this.status === 401 ? ExitCode.authentication : this.status >= 500 ? ExitCode.failed : ExitCode.refused
  }
}

export class NotLoggedIn extends Data.TaggedError("NotLoggedIn")<{ readonly reason: string }> implements ExitCoded {
  get exitCode() {
    return ExitCode.authentication
  }
}

export class Unreachable extends Data.TaggedError("Unreachable")<{ readonly url: string; readonly reason: string }>
  implements ExitCoded
{
  get exitCode() {
    return ExitCode.unreachable
  }
}

export class UnexpectedResponse extends Data.TaggedError("UnexpectedResponse")<{
  readonly url: string
  readonly status: number
  readonly reason: string
}> implements ExitCoded {
  get exitCode() {
    return ExitCode.failed
  }
}

export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> implements ExitCoded {
  get exitCode() {
    return ExitCode.usage
  }
}

export class LocalFileError extends Data.TaggedError("LocalFileError")<{ readonly path: string; readonly reason: string }>
  implements ExitCoded
{
  get exitCode() {
    return ExitCode.failed
  }
}

export class TaskNotCompleted extends Data.TaggedError("TaskNotCompleted")<{ readonly task: string; readonly status: string }>
  implements ExitCoded
{
  get exitCode() {
    return ExitCode.taskNotCompleted
  }
}

/** A followed task ended other than `completed` with exit code 0: the CLI exits with the task's own exit code. */
export class TaskExited extends Data.TaggedError("TaskExited")<{
  readonly task: string
  readonly status: string
  /** The task's process exit code, when it reported one. */
  readonly taskExitCode: number | null
}> implements ExitCoded {
  /** The process's own code when there is one (1-255); otherwise the "did not complete" code. */
  get exitCode() {
    const code = this.taskExitCode
    return code !== null && code > 0 && code < 256 ? code : ExitCode.taskNotCompleted
  }
}

export class WaitTimedOut extends Data.TaggedError("WaitTimedOut")<{
  readonly task: string
  readonly status: string
  readonly seconds: number
}> implements ExitCoded {
  get exitCode() {
    return ExitCode.waitTimedOut
  }
}

export class NotReady extends Data.TaggedError("NotReady")<{ readonly services: ReadonlyArray<string> }>
  implements ExitCoded
{
  get exitCode() {
    return ExitCode.failed
  }
}

export type CliError =
  | ApiError
  | NotLoggedIn
  | Unreachable
  | UnexpectedResponse
  | UsageError
  | LocalFileError
  | TaskNotCompleted
  | TaskExited
  | WaitTimedOut
  | NotReady

const CLI_ERROR_TAGS: ReadonlySet<string> = new Set<CliError["_tag"]>([
  "ApiError",
  "NotLoggedIn",
  "Unreachable",
  "UnexpectedResponse",
  "UsageError",
  "LocalFileError",
  "TaskNotCompleted",
  "TaskExited",
  "WaitTimedOut",
  "NotReady"
])

export const isCliError = (error: unknown): error is CliError =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" && CLI_ERROR_TAGS.has(error._tag)

/** A 401 answer: the token (or the credentials) were refused. */
export const isUnauthorized = (error: unknown): error is ApiError =>
  Predicate.isTagged(error, "ApiError") && (error as ApiError).status === 401

/** The message printed on stderr, starting with `error: `. */
export const describe = (error: CliError): string => {
  switch (error._tag) {
    case "ApiError": {
      const lines = [`error: ${error.title}: ${error.detail}`]
      for (const field of error.errors ?? []) lines.push(`  - ${field.path}: ${field.message}`)
      if (error.retryAfterSeconds !== undefined) lines.push(`  retry after ${error.retryAfterSeconds} s`)
      if (error.status === 401) lines.push("  (log in again with `cynode login`)")
      return lines.join("\n")
    }
    case "NotLoggedIn":
      return `error: not logged in: ${error.reason}`
    case "Unreachable":
      return `error: cannot reach ${error.url}: ${error.reason}`
    case "UnexpectedResponse":
      return `error: unexpected answer from ${error.url} (HTTP ${error.status}): ${error.reason}`
    case "UsageError":
      return `error: ${error.message}`
    case "LocalFileError":
      return `error: ${error.path}: ${error.reason}`
    case "TaskNotCompleted":
      return `error: task ${error.task} ended ${error.status}`
    case "TaskExited":
      return `error: task ${error.task} ended ${error.status}${error.taskExitCode === null ? "" : ` (exit code ${error.taskExitCode})`}`
    case "WaitTimedOut":
      return `error: task ${error.task} is still ${error.status} after ${error.seconds} s (stopped waiting; it keeps running)`
    case "NotReady":
      return `error: not ready: ${error.services.join(", ")}`
  }
}
