import { Layer, Logger, LogLevel } from "effect"

/**
 * Structured logs: one JSON object per line on stdout. `CYNODE_LOG_LEVEL` (debug|info|warning|error) sets the floor.
 * Secrets never reach a log line: they travel as `Redacted`, which renders as `<redacted>`.
 */
const levelFromEnv = (): LogLevel.LogLevel => {
  switch ((process.env.CYNODE_LOG_LEVEL ?? "info").toLowerCase()) {
    case "debug":
      return LogLevel.Debug
    case "warning":
    case "warn":
      return LogLevel.Warning
    case "error":
      return LogLevel.Error
    case "none":
      return LogLevel.None
    default:
      return LogLevel.Info
  }
}

/** Adds the program name to every log line, so interleaved logs of `just up` stay readable. */
export const loggingFor = (program: string) =>
  Layer.mergeAll(
    Logger.replace(
      Logger.defaultLogger,
      Logger.map(Logger.structuredLogger, (entry) => JSON.stringify({ program, ...entry }))
        .pipe(Logger.withConsoleLog)
    ),
    Logger.minimumLogLevel(levelFromEnv())
  )
