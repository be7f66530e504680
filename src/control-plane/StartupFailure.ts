import { SqlError } from "@effect/sql/SqlError"
import { Cause, ConfigError, Option } from "effect"

/**
 * One readable line for a failed start (control-plane.md §2): which variable is missing or wrong, or that the
 * database could not be reached or migrated. Secrets never appear: config errors name variables, not values.
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
