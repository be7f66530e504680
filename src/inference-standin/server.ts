import { Option } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { route, type Reply, type Routed } from "./Router.ts"

/** node:http glue: read the body, route it, write the reply, log one JSON line per request. */

export const STANDIN_HEADER = "X-CyNode-Standin"
const MAX_BODY_BYTES = 1024 * 1024

export interface RequestLog {
  readonly time: string
  readonly level: "info"
  readonly message: "request"
  readonly method: string
  readonly path: string
  readonly status: number
  readonly duration_ms: number
  readonly model?: string
}

export interface StandinOptions {
  readonly host: string
  readonly port: number
  readonly models: ReadonlyArray<string>
  /** Defaults to one JSON line on stdout; prompts are never logged. */
  readonly log?: (entry: RequestLog) => void
}

export interface RunningStandin {
  readonly host: string
  readonly port: number
  readonly close: () => Promise<void>
}

const logToStdout = (entry: RequestLog): void => {
  process.stdout.write(`${JSON.stringify(entry)}\n`)
}

/** The body as text; none once it passes the limit (the rest is drained, not buffered). */
const readBody = (req: IncomingMessage): Promise<Option.Option<string>> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data")
        req.resume()
        resolve(Option.none())
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(Option.some(Buffer.concat(chunks).toString("utf8"))))
    req.on("error", reject)
  })

const write = (res: ServerResponse, reply: Reply): void => {
  switch (reply.kind) {
    case "json":
      res.writeHead(reply.status, { ...reply.headers, "content-type": "application/json; charset=utf-8" })
      res.end(JSON.stringify(reply.body))
      return
    case "text":
      res.writeHead(reply.status, { "content-type": "text/plain; charset=utf-8" })
      res.end(reply.body)
      return
    case "ndjson":
      // One write per object so a client sees real incremental chunks, as with Ollama.
      res.writeHead(200, { "content-type": "application/x-ndjson" })
      for (const line of reply.lines) res.write(`${JSON.stringify(line)}\n`)
      res.end()
  }
}

const errorReply = (status: number, error: string): Routed => ({ reply: { kind: "json", status, body: { error } } })

export const startStandin = (options: StandinOptions): Promise<RunningStandin> => {
  const log = options.log ?? logToStdout

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = process.hrtime.bigint()
    const method = req.method ?? "GET"
    const path = new URL(req.url ?? "/", "http://standin").pathname
    let model: string | undefined
    res.setHeader(STANDIN_HEADER, "true")
    res.on("close", () =>
      log({
        time: new Date().toISOString(),
        level: "info",
        message: "request",
        method,
        path,
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
        ...(model === undefined ? {} : { model })
      })
    )
    const timing = () => ({
      created_at: new Date().toISOString(),
      total_duration: Math.max(1, Number(process.hrtime.bigint() - started))
    })
    try {
      const body = await readBody(req)
      const routed = Option.match(body, {
        onNone: () => errorReply(413, `request body larger than ${MAX_BODY_BYTES} bytes`),
        onSome: (text) => route({ method, path, body: text }, { models: options.models, timing })
      })
      model = routed.model
      write(res, routed.reply)
    } catch (e) {
      if (!res.headersSent) write(res, errorReply(500, `internal error: ${e instanceof Error ? e.message : String(e)}`).reply)
      else res.destroy()
    }
  }

  const server = createServer((req, res) => void handle(req, res))
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port, options.host, () => {
      server.off("error", reject)
      const address = server.address()
      resolve({
        host: options.host,
        port: typeof address === "object" && address !== null ? address.port : options.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })
}
