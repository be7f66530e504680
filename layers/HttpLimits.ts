import { Config, ConfigError, Either } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { parseGoDuration } from "../schema/time.ts"

/**
 * Connection-level limits of every CyNode HTTP server, from the environment (user-gateway.md §2 names them; the
 * control plane and the worker API read the same variables). Node enforces them before any handler runs:
 * - READ_TIMEOUT: the whole request (headers and body) must arrive within it, else 408 and the connection closes;
 *   a slow-loris body is cut off here. It does not limit how long the answer takes (a worker call lasts as long
 *   as its job).
 * - WRITE_TIMEOUT: an answer whose bytes stop moving to the client for this long is cut off (a reader that never
 *   reads). A response that is merely not written yet (a long job, a long poll) is not a stalled write.
 * - IDLE_TIMEOUT: how long a kept-alive connection may sit idle between requests.
 * - MAX_HEADER_BYTES: larger request heads get 431.
 * - MAX_CONNECTIONS: connections beyond it are closed at once.
 */

export interface ServerLimits {
  readonly readTimeoutMs: number
  readonly writeTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly maxHeaderBytes: number
  readonly maxConnections: number
}

export const DEFAULT_LIMITS: ServerLimits = {
  readTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
  maxConnections: 4096
}

const duration = (name: string, fallback: number) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      const ms = parseGoDuration(s)
      return ms === undefined || ms <= 0
        ? Either.left(ConfigError.InvalidData([], `${name} must be a positive duration like 30s or 2m, got ${JSON.stringify(s)}`))
        : Either.right(ms)
    }),
    Config.withDefault(fallback)
  )

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

export const serverLimits: Config.Config<ServerLimits> = Config.all({
  readTimeoutMs: duration("READ_TIMEOUT", DEFAULT_LIMITS.readTimeoutMs),
  writeTimeoutMs: duration("WRITE_TIMEOUT", DEFAULT_LIMITS.writeTimeoutMs),
  idleTimeoutMs: duration("IDLE_TIMEOUT", DEFAULT_LIMITS.idleTimeoutMs),
  maxHeaderBytes: positiveInt("MAX_HEADER_BYTES", DEFAULT_LIMITS.maxHeaderBytes),
  maxConnections: positiveInt("MAX_CONNECTIONS", DEFAULT_LIMITS.maxConnections)
})

/** A Node HTTP server that enforces `limits`. */
export const makeLimitedServer = (limits: ServerLimits): Server => {
  const server = createServer({
    requestTimeout: limits.readTimeoutMs,
    headersTimeout: limits.readTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // Node checks the two timeouts above on this interval (default 30 s): checked often, a slow client is cut
    // off close to READ_TIMEOUT rather than up to 30 s later.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.readTimeoutMs / 4)))
  })
  server.maxHeadersCount = 200
  server.maxConnections = limits.maxConnections
  // Node reports both a socket without traffic for WRITE_TIMEOUT and a kept-alive socket idle for IDLE_TIMEOUT as
  // a socket timeout, and with this listener present it closes neither itself. Closed here: an idle socket (no
  // request in progress) and a stalled write (bytes still queued for the client). A request whose answer is not
  // written yet (a long job, a long poll) is left alone.
  const busy = new Set<Socket>()
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    busy.add(req.socket)
    res.once("close", () => busy.delete(req.socket))
  })
  lingerBeforeClosing(server)
  server.setTimeout(limits.writeTimeoutMs)
  server.on("timeout", (socket: Socket) => {
    if (!busy.has(socket) || socket.writableLength > 0) socket.destroy()
  })
  return server
}

/** How long a connection answered before its body was read keeps discarding that body before it closes. */
const LINGER_MS = 2_000

/**
 * Apache's "lingering close": a request refused before its body was read (401, 413, 415) is answered and the
 * connection closed, but closing a socket with unread input makes the kernel reset the connection, and the reset can
 * destroy the answer before the client has read it (a client still uploading sees "connection reset" instead of
 * 401). So such a connection half-closes (our side is done), keeps discarding what the client still sends for up to
 * LINGER_MS, and closes when the client does or the time is up.
 */
const lingerBeforeClosing = (server: Server) => {
  const current = new WeakMap<Socket, IncomingMessage>()
  server.on("request", (req: IncomingMessage) => current.set(req.socket, req))
  server.on("connection", (socket: Socket) => {
    const destroySoon = socket.destroySoon.bind(socket)
    // Node ends a connection with `destroySoon` once the last answer on it is written.
    socket.destroySoon = () => {
      const req = current.get(socket)
      if (req === undefined || req.complete) return destroySoon()
      socket.end()
      const timer = setTimeout(() => socket.destroy(), LINGER_MS)
      timer.unref()
      socket.once("close", () => clearTimeout(timer))
    }
  })
}
