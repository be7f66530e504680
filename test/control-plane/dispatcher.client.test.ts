import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { WorkerClient, type RunBody, type WorkerTarget } from "../../src/control-plane/WorkerClient.ts"
import { freePort } from "../support/programs.ts"

/**
 * WorkerClient against real HTTP servers: every row of control-plane.md §9's failure table, the bearer token and
 * headers on the wire, and the deadline.
 */

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const serve = (handler: Handler) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; close: () => void }>((resume) => {
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => handler(req, res, Buffer.concat(chunks).toString("utf8")))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, close: () => server.closeAllConnections() }))
      })
    }),
    (s) => Effect.sync(() => s.close())
  )

const body: RunBody = {
  version: 1,
  task_id: "t-1",
  job_id: "job-1",
  sandbox: { image: "localhost/cynode-sandbox:latest", command: ["echo", "hi"] }
}

const finished = {
  version: 1,
  task_id: "t-1",
  job_id: "job-1",
  status: "completed",
  exit_code: 0,
  stdout: "hi\n",
  stderr: "",
  started_at: "2026-03-01T10:01:00.120Z",
  ended_at: "2026-03-01T10:01:00.655Z",
  truncated: { stdout: false, stderr: false }
}

const target = (url: string): WorkerTarget => ({ nodeSlug: "node-01", url, token: Redacted.make("node-token") })

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers })
  res.end(JSON.stringify(value))
}

const problem = (status: number, type: string, detail: string) => ({ type, title: "x", status, detail })

const runAgainst = (handler: Handler, deadlineMs = 10_000) =>
  Effect.gen(function*() {
    const server = yield* serve(handler)
    const client = yield* WorkerClient
    return yield* client.run(target(server.url), body, deadlineMs)
  }).pipe(Effect.scoped, Effect.provide(WorkerClient.Live))

describe("WorkerClient.run", () => {
  it.effect("sends the node's own bearer token, JSON and a request id, and returns the response verbatim", () =>
    Effect.gen(function*() {
      let seen: { auth?: string | undefined; type?: string | undefined; id?: string; path?: string | undefined; body?: unknown } = {}
      const outcome = yield* runAgainst((req, res, text) => {
        seen = {
          auth: req.headers.authorization,
          type: req.headers["content-type"],
          id: String(req.headers["x-request-id"]),
          path: req.url,
          body: JSON.parse(text)
        }
        json(res, 200, { ...finished, extra: "kept" })
      })
      expect(seen.auth).toBe("Bearer node-token")
      expect(seen.type).toBe("application/json")
      expect(seen.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(seen.path).toBe("/v1/worker/jobs:run")
      expect(seen.body).toEqual(body)
      expect(outcome._tag).toBe("Finished")
      if (outcome._tag === "Finished") expect(outcome.raw).toEqual({ ...finished, extra: "kept" })
    }))

  it.effect.each([
    [503, "NotSent"],
    [429, "RateLimited"],
    [401, "AuthRefused"],
    [400, "Rejected"],
    [403, "Rejected"],
    [413, "Rejected"],
    [422, "Rejected"],
    [409, "Uncertain"],
    [500, "Uncertain"],
    [502, "Uncertain"]
  ] as const)("classifies HTTP %i as %s", ([status, tag]) =>
    Effect.gen(function*() {
      const outcome = yield* runAgainst((_, res) =>
        json(res, status, problem(status, `urn:cynodeai:error:k${status}`, `detail ${status}`), status === 429 ? { "retry-after": "7" } : {})
      )
      expect(outcome._tag).toBe(tag)
      if (outcome._tag === "RateLimited") expect(outcome.retryAfterMs).toBe(7000)
      if (outcome._tag === "Rejected") {
        expect(outcome).toMatchObject({ status, problemType: `urn:cynodeai:error:k${status}`, detail: `detail ${status}` })
      }
    }))

  it.effect("a connection refused is a pre-send failure (requeue, not counted)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const client = yield* WorkerClient
      const outcome = yield* client.run(target(`http://127.0.0.1:${port}`), body, 5_000)
      expect(outcome._tag).toBe("NotSent")
    }).pipe(Effect.provide(WorkerClient.Live)))

  it.effect("a connection lost after sending is uncertain (reconcile, never re-send)", () =>
    Effect.gen(function*() {
      const outcome = yield* runAgainst((req) => req.socket.destroy())
      expect(outcome._tag).toBe("Uncertain")
    }))

  it.effect("an undecodable 200, or one for another job, is an unknown outcome", () =>
    Effect.gen(function*() {
      expect((yield* runAgainst((_, res) => json(res, 200, { hello: 1 })))._tag).toBe("Unknown")
      expect((yield* runAgainst((_, res) => json(res, 200, { ...finished, job_id: "job-2" })))._tag).toBe("Unknown")
      expect((yield* runAgainst((_, res) => res.end("not json")))._tag).toBe("Unknown")
    }))

  // The deadline is Effect's own timer (the HTTP layer has none), so this one runs on the real clock.
  it.live("no answer before the deadline is an unknown outcome, on time", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const outcome = yield* runAgainst(() => undefined, 500)
      expect(outcome._tag).toBe("Unknown")
      expect(Date.now() - started).toBeLessThan(3_000)
    }))
})

describe("WorkerClient.status and cancel", () => {
  const withServer = <A>(handler: Handler, f: (client: WorkerClient["Type"], t: WorkerTarget) => Effect.Effect<A>) =>
    Effect.gen(function*() {
      const server = yield* serve(handler)
      return yield* f(yield* WorkerClient, target(server.url))
    }).pipe(Effect.scoped, Effect.provide(WorkerClient.Live))

  it.effect("reads running, finished, unknown and unreachable answers", () =>
    Effect.gen(function*() {
      const handler: Handler = (req, res) => {
        if (req.url === "/v1/worker/jobs/running") {
          return json(res, 200, { version: 1, task_id: "t-1", job_id: "running", status: "running", started_at: finished.started_at })
        }
        if (req.url === "/v1/worker/jobs/job-1") return json(res, 200, finished)
        if (req.url === "/v1/worker/jobs/gone") return json(res, 404, problem(404, "urn:cynodeai:error:not_found", "unknown"))
        return json(res, 503, problem(503, "urn:cynodeai:error:unavailable", "down"))
      }
      const tags = yield* withServer(handler, (client, t) =>
        Effect.all(["running", "job-1", "gone", "other"].map((id) => client.status(t, id))))
      expect(tags.map((o) => o._tag)).toEqual(["Running", "Finished", "NotFound", "Unreachable"])
    }))

  it.effect("cancel posts to the job's cancel path with the token", () =>
    Effect.gen(function*() {
      let seen = ""
      const ok = yield* withServer((req, res) => {
        seen = `${req.method} ${req.url} ${req.headers.authorization}`
        res.writeHead(204).end()
      }, (client, t) => client.cancel(t, "job-1"))
      expect(ok).toBe(true)
      expect(seen).toBe("POST /v1/worker/jobs/job-1/cancel Bearer node-token")
    }))
})
