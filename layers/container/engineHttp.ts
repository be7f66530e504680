import http from "node:http"
import type { Readable } from "node:stream"

/**
 * Plain `node:http` calls to the engine for what dockerode does slowly or not at all: ping with a deadline,
 * Podman's libpod wait, streamed logs and attach (both demultiplexed by us, with output caps).
 */

export type Endpoint =
  | { readonly _tag: "Unix"; readonly socketPath: string }
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }

export const unixEndpoint = (socketPath: string): Endpoint => ({ _tag: "Unix", socketPath })

export const endpointUrl = (endpoint: Endpoint): string =>
  endpoint._tag === "Unix" ? `unix://${endpoint.socketPath}` : `tcp://${endpoint.host}:${endpoint.port}`

/** Parses `unix:///run/x.sock`, a bare absolute socket path, or `tcp://host:port` (plain HTTP; TLS is not supported). */
export const parseEndpoint = (value: string): Endpoint | undefined => {
  const v = value.trim()
  if (v.startsWith("/")) return unixEndpoint(v)
  if (v.startsWith("unix://")) {
    const path = v.slice("unix://".length)
    return path.startsWith("/") ? unixEndpoint(path) : undefined
  }
  const tcp = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(v)
  if (tcp === null) return undefined
  const port = Number(tcp[2])
  return port > 0 && port <= 65535 ? { _tag: "Tcp", host: tcp[1]!.replace(/^\[|\]$/g, ""), port } : undefined
}

/** A non-2xx answer, shaped like dockerode's errors (`statusCode`, `json.message`) so one mapper handles both. */
export class EngineStatusError extends Error {
  readonly json: { readonly message: string }
  constructor(readonly statusCode: number, message: string) {
    super(`HTTP ${statusCode}: ${message}`)
    this.json = { message }
  }
}

export interface EngineRequest {
  readonly method: "GET" | "POST" | "DELETE"
  readonly path: string
  readonly body?: unknown
  readonly signal?: AbortSignal
  /** Fails the request when the socket is idle this long (connect included). */
  readonly idleTimeoutMs?: number
}

const target = (endpoint: Endpoint): http.RequestOptions =>
  endpoint._tag === "Unix" ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port }

const MAX_ERROR_BODY = 64 * 1024

/** Reads a whole body, refusing more than `limit` bytes (engine answers we read this way are small JSON). */
export const readAll = (stream: Readable, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) stream.destroy(new Error(`engine answer exceeds ${limit} bytes`))
      else chunks.push(chunk)
    })
    stream.on("end", () => resolve(Buffer.concat(chunks)))
    stream.on("error", reject)
  })

const errorMessage = (body: Buffer): string => {
  const text = body.toString("utf8").trim()
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === "object" && parsed !== null && "message" in parsed && typeof parsed.message === "string") {
      return parsed.message
    }
  } catch {
    // not JSON: the text itself is the message
  }
  return text.slice(0, 500)
}

/** Settles on the engine's answer: a 2xx response resolves, any other status rejects with `EngineStatusError`. */
const settleOnAnswer = (
  request: http.ClientRequest,
  resolve: (res: http.IncomingMessage) => void,
  reject: (e: unknown) => void
) => {
  request.on("response", (res) => {
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) resolve(res)
    else readAll(res, MAX_ERROR_BODY).then((body) => reject(new EngineStatusError(status, errorMessage(body))), reject)
  })
  request.on("error", reject)
}

const build = (endpoint: Endpoint, req: EngineRequest, extraHeaders: Record<string, string> = {}) => {
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body))
  const headers: Record<string, string | number> = { ...extraHeaders }
  if (payload !== undefined) {
    headers["content-type"] = "application/json"
    headers["content-length"] = payload.length
  }
  const request = http.request({
    ...target(endpoint),
    method: req.method,
    path: req.path,
    headers,
    ...(req.signal === undefined ? {} : { signal: req.signal })
  })
  if (req.idleTimeoutMs !== undefined) {
    const ms = req.idleTimeoutMs
    request.setTimeout(ms, () => request.destroy(new Error(`no answer from ${endpointUrl(endpoint)} within ${ms} ms`)))
  }
  return { request, payload }
}

/** Sends a request; resolves with the response stream on 2xx, rejects with `EngineStatusError` otherwise. */
export const open = (endpoint: Endpoint, req: EngineRequest): Promise<http.IncomingMessage> =>
  new Promise((resolve, reject) => {
    const { request, payload } = build(endpoint, req)
    settleOnAnswer(request, resolve, reject)
    request.end(payload)
  })

/** Sends a request and returns the whole 2xx body (at most 16 MiB). */
export const call = async (endpoint: Endpoint, req: EngineRequest): Promise<Buffer> =>
  readAll(await open(endpoint, req), 16 * 1024 * 1024)

/**
 * Opens a hijacked connection (`Connection: Upgrade`), as `attach` needs: the engine answers 101 and then streams
 * until the container's output closes. Engines that answer 200 without upgrading stream in the body instead.
 */
export const upgrade = (endpoint: Endpoint, req: EngineRequest): Promise<Readable> =>
  new Promise((resolve, reject) => {
    const { request, payload } = build(endpoint, req, { connection: "Upgrade", upgrade: "tcp" })
    request.on("upgrade", (_res, socket, head) => {
      if (head.length > 0) socket.unshift(head)
      resolve(socket)
    })
    settleOnAnswer(request, resolve, reject)
    request.end(payload)
  })

/** `GET /_ping` with a deadline: resolves when the engine answers 2xx in time, rejects otherwise. */
export const ping = (endpoint: Endpoint, timeoutMs: number): Promise<void> =>
  call(endpoint, { method: "GET", path: "/_ping", idleTimeoutMs: timeoutMs }).then(() => undefined)
