import { request } from "node:http"
import { connect, type Socket } from "node:net"

/**
 * HTTP requests sent exactly as written: the request target goes on the wire unchanged (fetch would normalise
 * case-preserving but dot-, slash- and escape-altering spellings, and never sends an absolute-form target).
 */

export interface RawResult {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly text: string
}

export interface RawRequest {
  readonly method: string
  /** The request target as sent: `/v1/x`, `//v1//x`, `/V1/%78` or `http://host/v1/x`. */
  readonly target: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer
  readonly timeoutMs?: number
}

export const rawHttp = (baseUrl: string, req: RawRequest): Promise<RawResult> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl)
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8")
    const r = request(
      {
        host: url.hostname,
        port: Number(url.port),
        method: req.method,
        path: req.target,
        agent: false,
        headers: {
          ...(body === undefined ? {} : { "content-length": String(body.length) }),
          ...req.headers
        },
        timeout: req.timeoutMs ?? 30_000
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }))
        res.on("error", reject)
      }
    )
    r.on("timeout", () => r.destroy(new Error(`no answer within ${req.timeoutMs ?? 30_000} ms`)))
    r.on("error", reject)
    r.end(body)
  })

/** A plain TCP connection to the server, for slow and idle clients. */
export const openSocket = (baseUrl: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl)
    const socket = connect(Number(url.port), url.hostname, () => resolve(socket))
    socket.once("error", reject)
  })

/** Resolves with how the server ended the connection: what it sent before closing, and after how long. */
export const untilClosed = (socket: Socket, timeoutMs: number): Promise<{ readonly closed: boolean; readonly received: string }> =>
  new Promise((resolve) => {
    let received = ""
    socket.on("data", (d: Buffer) => {
      received += d.toString("utf8")
    })
    socket.on("error", () => undefined)
    const timer = setTimeout(() => resolve({ closed: false, received }), timeoutMs)
    socket.once("close", () => {
      clearTimeout(timer)
      resolve({ closed: true, received })
    })
  })

/**
 * A request written on a plain socket while its answer is read: for a server that answers (and closes) before the
 * whole body was sent, where an HTTP client would report only its own failed write.
 */
export const rawSocketHttp = (baseUrl: string, req: RawRequest): Promise<RawResult> =>
  new Promise((resolve, reject) => {
    const url = new URL(baseUrl)
    const body = req.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8")
    const socket = connect(Number(url.port), url.hostname)
    const chunks: Array<Buffer> = []
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${req.timeoutMs ?? 30_000} ms`)), req.timeoutMs ?? 30_000)
    const finish = () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("utf8")
      const [head = "", ...rest] = text.split("\r\n\r\n")
      const [statusLine = "", ...headerLines] = head.split("\r\n")
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? "0")
      if (status === 0) return reject(new Error(`no HTTP answer before the connection closed: ${JSON.stringify(text.slice(0, 200))}`))
      const headers: Record<string, string> = {}
      for (const line of headerLines) {
        const i = line.indexOf(":")
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      resolve({ status, headers, text: rest.join("\r\n\r\n") })
    }
    socket.on("data", (d: Buffer) => {
      chunks.push(d)
    })
    // The server may close while the body is still being written: what it answered is what counts.
    socket.on("error", () => undefined)
    socket.on("close", finish)
    const head = [
      `${req.method} ${req.target} HTTP/1.1`,
      `Host: ${url.host}`,
      "Connection: close",
      `Content-Length: ${body.length}`,
      ...Object.entries(req.headers ?? {}).map(([k, v]) => `${k}: ${v}`)
    ].join("\r\n")
    socket.write(`${head}\r\n\r\n`)
    socket.end(body)
  })
