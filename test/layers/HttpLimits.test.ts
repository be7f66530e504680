import { describe, expect, it } from "@effect/vitest"
import { connect } from "node:net"
import { DEFAULT_LIMITS, makeLimitedServer } from "../../layers/HttpLimits.ts"

/** The connection limits Node enforces for every CyNode server (HttpLimits.ts). */

const listen = (server: ReturnType<typeof makeLimitedServer>) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(typeof address === "object" && address !== null ? address.port : 0)
    }))

describe("HttpLimits", () => {
  it("cuts off a response the client stops reading (WRITE_TIMEOUT), but not one that is slow to start", async () => {
    const server = makeLimitedServer({ ...DEFAULT_LIMITS, writeTimeoutMs: 500 })
    server.on("request", (req, res) => {
      if (req.url === "/slow") {
        // Nothing to write for longer than WRITE_TIMEOUT: a long job or a long poll, not a stalled write.
        setTimeout(() => res.end("late"), 1_500)
        return
      }
      res.end(Buffer.alloc(64 * 1024 * 1024, 1))
    })
    const port = await listen(server)
    const stalled = await new Promise<{ readonly closed: boolean; readonly bytes: number }>((resolve) => {
      let bytes = 0
      const socket = connect(port, "127.0.0.1", () => {
        socket.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
      })
      let paused = false
      socket.on("data", (d: Buffer) => {
        bytes += d.length
        // Read a little, then stop reading for longer than WRITE_TIMEOUT: the server's writes stall. Reading again
        // then shows whether the server went on (all 64 MiB arrive) or cut the connection (it closes early).
        if (bytes > 64 * 1024 && !paused) {
          paused = true
          socket.pause()
          setTimeout(() => socket.resume(), 2_000)
        }
      })
      socket.on("error", () => undefined)
      const timer = setTimeout(() => resolve({ closed: false, bytes }), 20_000)
      socket.on("close", () => {
        clearTimeout(timer)
        resolve({ closed: true, bytes })
      })
    })
    expect(stalled.closed).toBe(true)
    expect(stalled.bytes).toBeLessThan(64 * 1024 * 1024)
    const slow = await fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text())
    expect(slow).toBe("late")
    server.close()
  }, 30_000)

  it("closes a kept-alive connection idle for IDLE_TIMEOUT", async () => {
    const server = makeLimitedServer({ ...DEFAULT_LIMITS, idleTimeoutMs: 300 })
    server.on("request", (_req, res) => res.end("ok"))
    const port = await listen(server)
    const outcome = await new Promise<{ readonly closed: boolean; readonly answered: boolean }>((resolve) => {
      let answered = false
      const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      socket.on("data", () => {
        answered = true
      })
      // Well before Node's own 5 s default, so the setting is what closed it.
      const timer = setTimeout(() => resolve({ closed: false, answered }), 3_000)
      socket.on("close", () => {
        clearTimeout(timer)
        resolve({ closed: true, answered })
      })
    })
    expect(outcome).toEqual({ closed: true, answered: true })
    server.close()
  }, 30_000)

  it("answers a refused upload and closes without resetting the connection (lingering close)", async () => {
    const server = makeLimitedServer(DEFAULT_LIMITS)
    // Refused before the body is read, as a missing token is.
    server.on("request", (_req, res) => res.writeHead(401, { "content-type": "text/plain" }).end("no"))
    const port = await listen(server)
    const upload = () =>
      new Promise<{ readonly answer: string; readonly error: string | undefined }>((resolve) => {
        const body = Buffer.alloc(8 * 1024 * 1024, 120)
        let answer = ""
        let error: string | undefined
        const socket = connect(port, "127.0.0.1")
        socket.on("data", (d: Buffer) => {
          answer += d.toString("utf8")
        })
        socket.on("error", (e: NodeJS.ErrnoException) => {
          error = e.code
        })
        socket.on("close", () => resolve({ answer, error }))
        socket.write(`POST /v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`)
        socket.end(body)
      })
    try {
      for (let i = 0; i < 10; i++) {
        const { answer, error } = await upload()
        expect(answer).toMatch(/^HTTP\/1\.1 401 /)
        // A reset (EPIPE/ECONNRESET while the client still writes) is what can destroy the answer in flight.
        expect(error).toBeUndefined()
      }
    } finally {
      server.close()
    }
  })
})
