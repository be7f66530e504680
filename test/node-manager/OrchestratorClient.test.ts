import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { makeOrchestratorClient } from "../../src/node-manager/OrchestratorClient.ts"

/**
 * The node's orchestrator client against a small scripted HTTP orchestrator: only bootstrap URLs after
 * registration, 5xx retried with backoff, a 401 re-registers once (single-flight) and retries the call.
 */

interface Script {
  /** Answers per `METHOD path`; defaults: register 201 with a fresh JWT, others 204/200. */
  readonly on?: (req: IncomingMessage, body: string, jwt: string) => { status: number; body?: unknown } | undefined
}

const startOrchestrator = (script: Script = {}) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; log: Array<string>; jwts: Array<string>; close: () => void }>((resume) => {
      const log: Array<string> = []
      const jwts: Array<string> = []
      let base = ""
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        let body = ""
        req.on("data", (c: Buffer) => (body += c.toString("utf8")))
        req.on("end", () => {
          log.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`)
          const current = jwts[jwts.length - 1] ?? ""
          const scripted = script.on?.(req, body, current)
          const answer = scripted ?? (req.url === "/v1/nodes/register"
            ? (() => {
              const jwt = `jwt-${jwts.length + 1}`
              jwts.push(jwt)
              return {
                status: 201,
                body: {
                  version: 1,
                  issued_at: "2026-01-01T00:00:00Z",
                  orchestrator: {
                    base_url: base,
                    endpoints: { node_config_url: `${base}/other/config`, node_report_url: `${base}/other/report` }
                  },
                  auth: { node_jwt: jwt, expires_at: "not a time" }
                }
              }
            })()
            : req.headers.authorization === `Bearer ${current}`
            ? { status: req.method === "GET" ? 200 : 204, ...(req.method === "GET" ? { body: { version: 1 } } : {}) }
            : { status: 401, body: { detail: "Invalid or expired token" } })
          res.writeHead(answer.status, { "content-type": "application/json" })
          res.end(answer.body === undefined ? "" : JSON.stringify(answer.body))
        })
      })
      server.listen(0, "127.0.0.1", () => {
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        resume(Effect.succeed({ url: base, log, jwts, close: () => server.close() }))
      })
    }),
    (o) => Effect.sync(() => o.close())
  )

/** The smallest capability report and config ack the control plane's contract accepts. */
const capability = { version: 1, reported_at: "2026-01-01T00:00:00Z", node: { node_slug: "node-1" } }
const applied = { version: 1, node_slug: "node-1", config_version: "v1", status: "applied" }

/** The client over the platform HTTP client, whose connection pool lives as long as the test's scope. */
const client = (url: string, waitSeconds = 5) =>
  Effect.flatMap(Layer.build(HttpClientLayer.layer), (context) =>
    makeOrchestratorClient({
      orchestratorUrl: url,
      psk: Redacted.make("psk-0123456789abcdef"),
      waitSeconds,
      capability: Effect.succeed(capability)
    }).pipe(Effect.provide(context)))

describe("OrchestratorClient", () => {
  it.scopedLive("registers with the PSK, then uses only the bootstrap's URLs with the node JWT", () =>
    Effect.gen(function*() {
      const o = yield* startOrchestrator()
      const c = yield* client(o.url)
      yield* c.register
      expect(yield* c.fetchConfig).toEqual({ version: 1 })
      yield* c.ack(applied)
      yield* c.report(capability)
      expect(o.log).toEqual([
        "POST /v1/nodes/register -",
        "GET /other/config Bearer jwt-1",
        "POST /other/config Bearer jwt-1",
        "POST /other/report Bearer jwt-1"
      ])
    }))

  it.scopedLive("re-registers once on 401 (single-flight) and retries the call", () =>
    Effect.gen(function*() {
      const o = yield* startOrchestrator()
      const c = yield* client(o.url)
      yield* c.register
      o.jwts.push("revoked-by-someone-else") // the node's jwt-1 is now refused
      yield* Effect.all([c.report(capability), c.report(capability), c.report(capability)], { concurrency: "unbounded" })
      expect(yield* c.registrations).toBe(2)
      expect(o.log.filter((l) => l.startsWith("POST /v1/nodes/register"))).toHaveLength(2)
      expect(o.log.filter((l) => l === "POST /other/report Bearer jwt-3")).toHaveLength(3)
    }))

  it.scopedLive("retries 5xx with backoff and then succeeds", () =>
    Effect.gen(function*() {
      let failures = 2
      const o = yield* startOrchestrator({
        on: (req) => (req.url === "/v1/nodes/register" && failures-- > 0 ? { status: 503, body: { detail: "busy" } } : undefined)
      })
      const c = yield* client(o.url)
      const started = Date.now()
      yield* c.register
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_500) // 1 s + 2 s of backoff
      expect(o.log.filter((l) => l.startsWith("POST /v1/nodes/register"))).toHaveLength(3)
    }), 20_000)

  it.scopedLive("gives up on a wrong PSK at once with the orchestrator's detail", () =>
    Effect.gen(function*() {
      const o = yield* startOrchestrator({ on: () => ({ status: 401, body: { detail: "Invalid registration PSK" } }) })
      const c = yield* client(o.url)
      const error = yield* Effect.flip(c.register)
      expect(error).toMatchObject({ _tag: "OrchestratorRefused", status: 401, detail: "Invalid registration PSK" })
      expect(o.log).toHaveLength(1)
    }))

  it.scopedLive("refuses a payload the contract rejects without sending it", () =>
    Effect.gen(function*() {
      const o = yield* startOrchestrator()
      const c = yield* client(o.url)
      yield* c.register
      const error = yield* Effect.flip(c.ack({ ...applied, status: "failed" }))
      expect(error).toMatchObject({ _tag: "OrchestratorRefused", operation: "config ack", status: 400 })
      expect(o.log).toEqual(["POST /v1/nodes/register -"])
    }))

  it.scopedLive("stops retrying an unreachable orchestrator when the wait window ends", () =>
    Effect.gen(function*() {
      const c = yield* client("http://127.0.0.1:1", 2)
      const error = yield* Effect.flip(c.register)
      expect(error._tag).toBe("OrchestratorUnreachable")
    }), 20_000)
})
