import { SqlError } from "@effect/sql/SqlError"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, ConfigError, Effect, Option } from "effect"
import { CLEAN, exitCodeOfExit } from "./ExitCode.ts"
import { loggingFor } from "./Logging.ts"

/**
 * How every CyNode program runs: JSON-line logs, and a failed start told in one readable line on stderr (which
 * variable is missing or wrong, or that the database could not be reached) with the exit code the failure carries
 * (layers/ExitCode.ts; 1 when it names none). Secrets never appear: config errors name variables, not values.
 */

/** Config errors in words; a missing redacted variable's own message is just `<redacted>`, so name it here. */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  switch (error._op) {
    case "And":
      return `${describeConfigError(error.left)}; ${describeConfigError(error.right)}`
    case "Or":
      return describeConfigError(error.left)
    case "MissingData":
      return `required variable ${error.path.join("_")} is not set`
    case "InvalidData":
      return error.path.length > 0 ? `${error.path.join("_")}: ${error.message}` : error.message
    case "SourceUnavailable":
    case "Unsupported":
      return error.message
  }
}

export const describeStartupFailure = (program: string, cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ConfigError.isConfigError(error)) return `${program}: configuration error: ${describeConfigError(error)}`
    if (error instanceof SqlError) return `${program}: database error: ${error.message}`
    if (error instanceof Error) return `${program}: start failed: ${error.message}`
    return `${program}: start failed: ${String(error)}`
  }
  return `${program}: start failed:\n${Cause.pretty(cause)}`
}

export interface RunOptions {
  /**
   * The exit code after a success or an interrupt (Ctrl-C, SIGTERM), asked once the program's scope has closed
   * (default 0): how a shutdown that went wrong without a failure (containers left running) is told.
   */
  readonly cleanExitCode?: () => number
  /** Whether to print the one-line failure; programs that report their own failures turn it off. */
  readonly reportFailure?: boolean
}

export const runProgram = (program: string, main: Effect.Effect<unknown, unknown>, options: RunOptions = {}): void => {
  const report = options.reportFailure ?? true
  NodeRuntime.runMain(
    main.pipe(
      Effect.tapErrorCause((cause) =>
        !report || Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Effect.sync(() => process.stderr.write(`${describeStartupFailure(program, cause)}\n`))
      ),
      Effect.provide(loggingFor(program))
    ),
    {
      disableErrorReporting: true,
      disablePrettyLogger: true,
      teardown: (exit, onExit) => onExit(exitCodeOfExit(exit, options.cleanExitCode?.() ?? CLEAN))
    }
  )
}
