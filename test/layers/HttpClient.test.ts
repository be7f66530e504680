import { describe, expect, it } from "@effect/vitest"
import { HttpClient } from "@effect/platform"
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { failOnProblem, HttpProblem, layer } from "../../layers/HttpClient.ts"

/** The shared outgoing client: keep-alive reuse, and error answers read as Problem Details. */

const serve = (handler: Parameters<typeof createServer>[1]) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; sockets: () => number; close: () => void }>((resume) => {
      let sockets = 0
      const server = createServer(handler)
      server.on("connection", () => sockets++)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, sockets: () => sockets, close: () => server.close() }))
      })
    }),
    (s) => Effect.sync(() => s.close())
  )

describe("layers/HttpClient", () => {
  it.scoped("reuses pooled connections for sequential calls to a peer", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => res.end("ok"))
      const client = yield* HttpClient.HttpClient
      for (let i = 0; i < 20; i++) expect(yield* client.get(`${server.url}/x`).pipe(Effect.flatMap((r) => r.text))).toBe("ok")
      // undici may open a second connection while the first is being returned to the pool; never one per call.
      expect(server.sockets()).toBeLessThanOrEqual(2)
    }).pipe(Effect.provide(layer)))

  it.scoped("turns a 4xx/5xx answer into an HttpProblem, Problem Details or not", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        if (req.url === "/pd") {
          res.writeHead(429, { "content-type": "application/problem+json", "retry-after": "7" })
          res.end(JSON.stringify({ type: "urn:cynodeai:error:rate_limit", title: "Too Many Requests", status: 429, detail: "busy" }))
        } else {
          res.writeHead(502).end("bad gateway")
        }
      })
      const client = failOnProblem(yield* HttpClient.HttpClient)
      const pd = yield* Effect.flip(client.get(`${server.url}/pd`))
      expect(pd).toBeInstanceOf(HttpProblem)
      expect(pd).toMatchObject({ status: 429, type: "urn:cynodeai:error:rate_limit", detail: "busy", retryAfter: "7" })
      const plain = yield* Effect.flip(client.get(`${server.url}/plain`))
      expect(plain).toMatchObject({ status: 502, type: "http_502", detail: "bad gateway" })
    }).pipe(Effect.provide(layer)))
})
