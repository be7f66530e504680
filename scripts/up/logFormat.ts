/**
 * Turns the programs' JSON log lines (layers/Logging.ts) into short readable lines for `just up`:
 * `12:00:01 control-plane  INFO  control plane listening  address=http://127.0.0.1:12082`.
 * Lines that are not JSON pass through unchanged. Access logs of successful requests are left out unless asked for
 * (`CYNODE_UP_ACCESS_LOG=1`): `up` polls the health endpoints, and the demo's own requests would drown its output.
 */

const COLORS = [36, 35, 33, 32, 34, 96] as const
const LEVEL_COLORS: Record<string, number> = { ERROR: 31, FATAL: 31, WARN: 33, WARNING: 33, DEBUG: 90, TRACE: 90 }

export interface Prefixer {
  readonly format: (line: string) => string | undefined
}

const paint = (enabled: boolean, code: number, text: string) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text)

const renderValue = (value: unknown): string => {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value
  return JSON.stringify(value)
}

interface LogEntry {
  readonly message?: unknown
  readonly logLevel?: unknown
  readonly timestamp?: unknown
  readonly cause?: unknown
  readonly annotations?: Record<string, unknown>
}

const isQuietAccessLog = (entry: LogEntry, accessLog: boolean) => {
  if (entry.message !== "http request") return false
  if (/^\/(healthz|readyz)$/.test(String(entry.annotations?.path ?? ""))) return true
  return !accessLog && Number(entry.annotations?.status ?? 0) < 400
}

/** One formatter per program; `color` picks ANSI colours (for a terminal); `accessLog` keeps 2xx/3xx access logs. */
export const prefixer = (name: string, index: number, width: number, color: boolean, accessLog = false): Prefixer => {
  const label = paint(color, COLORS[index % COLORS.length]!, name.padEnd(width))
  return {
    format: (line) => {
      if (line.trim() === "") return undefined
      let entry: LogEntry | undefined
      if (line.startsWith("{")) {
        try {
          entry = JSON.parse(line) as LogEntry
        } catch {
          entry = undefined
        }
      }
      if (entry === undefined || entry.logLevel === undefined) {
        return `${new Date().toISOString().slice(11, 19)} ${label} ${line}`
      }
      if (isQuietAccessLog(entry, accessLog)) return undefined
      const level = String(entry.logLevel).toUpperCase()
      const time = typeof entry.timestamp === "string" ? entry.timestamp.slice(11, 19) : new Date().toISOString().slice(11, 19)
      const message = Array.isArray(entry.message) ? entry.message.map(String).join(" ") : String(entry.message ?? "")
      const fields = Object.entries(entry.annotations ?? {})
        .filter(([key]) => key !== "request_id")
        .map(([key, value]) => `${key}=${renderValue(value)}`)
      const cause = typeof entry.cause === "string" && entry.cause !== "" ? `\n${entry.cause}` : ""
      const levelText = paint(color && LEVEL_COLORS[level] !== undefined, LEVEL_COLORS[level] ?? 0, level.padEnd(5))
      return `${time} ${label} ${levelText} ${message}${fields.length > 0 ? "  " + fields.join(" ") : ""}${cause}`
    }
  }
}
