import { workerSettings } from "../support/workerSettings.ts"
import { HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Option, Redacted, type Scope } from "effect"
import * as fc from "effect/FastCheck"
import { randomUUID } from "node:crypto"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { writeRecord } from "../../src/worker-api/JobRecords.ts"
import type { WorkerSettings } from "../../src/worker-api/Settings.ts"
import { layer as workerApi, WorkerState } from "../../src/worker-api/WorkerApi.ts"

/**
 * The Worker API in-process on a real container engine, with a fake inference server (the only fake here: it stands
 * for the node-local Ollama). Checks what the BDD scenarios do not: readiness gating, check order, 429, inference
 * jobs, repeated job ids, cancel, client disconnects, startup cleanup, and "arbitrary JSON never 5xx" over HTTP.
 */

const IMAGE = "localhost/cynode-sandbox:latest"
const TOKEN = "worker-api-test-token-0123456789"
const auth = { authorization: `Bearer ${TOKEN}` }
const Runtime = ContainerRuntime.layer({ socket: process.env.CYNODE_CONTAINER_SOCKET ?? "unix:///run/podman/podman.sock", podmanService: "never" })

/** Stands for the node-local inference server: `slow` answers after 3 s, `broken` with an error, others echo. */
const fakeInference = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly calls: Array<string>; readonly server: Server }>((resume) => {
    const calls: Array<string> = []
    const server = createServer((req, res) => {
      let body = ""
      req.on("data", (d: Buffer) => (body += d.toString("utf8")))
      req.on("end", () => {
        const { model, prompt, stream } = JSON.parse(body) as { model: string; prompt: string; stream: boolean }
        calls.push(`${model}:${prompt}:${stream}`)
        const answer = (status: number, json: unknown) => {
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json))
        }
        if (model === "broken") answer(404, { error: `model "${model}" not found` })
        else if (model === "slow") setTimeout(() => answer(200, { response: "late", done: true }), 3000).unref()
        else answer(200, { model, response: `echo: ${prompt}`, done: true })
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, calls, server }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
)

const tempRoot = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "cynode-worker-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const settingsFor = (mountRoot: string, inferenceUrl: string, patch: Partial<WorkerSettings>): WorkerSettings =>
  workerSettings({
    listen: { host: "127.0.0.1", port: 0 },
    nodeSlug: `test-${randomUUID().slice(0, 8)}`,
    mountRoot,
    allowedImages: [IMAGE],
    timeoutDefaultSeconds: 60,
    timeoutMaxSeconds: 120,
    memoryBytes: 256 * 1024 * 1024,
    pidsLimit: 64,
    tmpBytes: 16 * 1024 * 1024,
    workspaceBytes: 64 * 1024 * 1024,
    maxOutputBytes: 4096,
    maxRequestBytes: 64 * 1024,
    inferenceBaseUrl: Option.some(inferenceUrl),
    inferenceTimeoutSeconds: 10,
    shutdownGraceSeconds: 1,
    pullTimeoutSeconds: 5,
    ...patch
  })

interface Worker {
  readonly base: string
  readonly settings: WorkerSettings
  readonly calls: Array<string>
  readonly markReady: Effect.Effect<void>
}

/** Starts the worker in the test's scope; `before` runs against the mount root and runtime before it starts. */
const startWorker = (
  patch: Partial<WorkerSettings> = {},
  options: { readonly ready?: boolean; readonly before?: (settings: WorkerSettings) => Effect.Effect<void, unknown, ContainerRuntime | Scope.Scope> } = {}
): Effect.Effect<Worker, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const root = yield* tempRoot
    const inference = yield* fakeInference
    const settings = settingsFor(join(root, "mounts"), inference.url, patch)
    const runtime = yield* Layer.build(Runtime)
    if (options.before) yield* Effect.provide(options.before(settings), runtime)
    const context = yield* Layer.build(
      workerApi({ token: { token: Redacted.make(TOKEN) }, settings }).pipe(
        Layer.provide(Layer.succeedContext(runtime)),
        Layer.provide(HttpClientLayer.layer),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
      )
    )
    const state = Effect.runSync(Effect.provide(WorkerState, context))
    if (options.ready !== false) yield* state.markReady
    const base = yield* Effect.provide(HttpServer.addressFormattedWith((a) => Effect.succeed(a)), context)
    return { base, settings, calls: inference.calls, markReady: state.markReady }
  })

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly json: Record<string, unknown>
}

const call = (base: string, path: string, init: RequestInit = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const res = await fetch(base + path, init)
    const text = await res.text()
    return { status: res.status, headers: res.headers, json: text.startsWith("{") ? JSON.parse(text) : { text } }
  })

const run = (base: string, body: unknown, init: RequestInit = {}) =>
  call(base, "/v1/worker/jobs:run", {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init
  })

const inferenceJob = (jobId: string, model = "standin:latest", prompt = "Say hello") => ({
  version: 1,
  task_id: "task-1",
  job_id: jobId,
  inference: { model, prompt }
})

const sandboxJob = (jobId: string, script: string, extra: Record<string, unknown> = {}) => ({
  version: 1,
  task_id: "task-1",
  job_id: jobId,
  sandbox: { image: IMAGE, command: ["sh", "-c", script], ...extra }
})

const poll = <A>(f: Effect.Effect<A>, done: (a: A) => boolean, timeoutMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const a = yield* f
      if (done(a) || Date.now() > deadline) return a
      yield* Effect.sleep("100 millis")
    }
  })

describe("Worker API (in-process, real engine)", () => {
  it.scopedLive("is not ready and refuses jobs until marked ready; checks auth before size", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker({}, { ready: false })
      expect((yield* call(worker.base, "/healthz")).json.text).toBe("ok")
      const notReady = yield* call(worker.base, "/readyz")
      expect(notReady.status).toBe(503)
      expect(notReady.json.text).toContain("not ready")
      expect((yield* run(worker.base, inferenceJob("early"))).status).toBe(503)
      // Auth comes first: an oversized body without a token is a 401, with one a 413.
      const huge = "x".repeat(100 * 1024)
      const unauthorized = yield* call(worker.base, "/v1/worker/jobs:run", { method: "POST", body: huge })
      expect(unauthorized.status).toBe(401)
      expect(unauthorized.headers.get("www-authenticate")).toBe("Bearer")
      expect((yield* run(worker.base, huge)).status).toBe(413)
      yield* worker.markReady
      const ready = yield* call(worker.base, "/readyz")
      expect([ready.status, ready.json.text]).toEqual([200, "ready"])
    }))

  it.scopedLive("runs inference jobs, stores them, and never runs a job id twice", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker()
      const first = yield* run(worker.base, inferenceJob("inf-1"))
      expect(first.status).toBe(200)
      expect(first.json).toMatchObject({ status: "completed", exit_code: 0, stdout: "echo: Say hello", stderr: "" })
      expect(worker.calls).toEqual(["standin:latest:Say hello:false"])
      const again = yield* run(worker.base, inferenceJob("inf-1", "other", "different"))
      expect(again.json).toEqual(first.json)
      expect(worker.calls.length).toBe(1)
      expect((yield* call(worker.base, "/v1/worker/jobs/inf-1", { headers: auth })).json).toEqual(first.json)
      const stored = JSON.parse(readFileSync(join(worker.settings.mountRoot, "inf-1", "job.json"), "utf8"))
      expect(stored).toEqual(first.json)

      const broken = yield* run(worker.base, inferenceJob("inf-2", "broken"))
      expect(broken.json).toMatchObject({ status: "failed", exit_code: -1, stdout: "" })
      expect(broken.json.stderr).toMatch(/^cynode-worker: inference failed: HTTP 404: model "broken" not found\n$/)
      expect((yield* call(worker.base, "/v1/worker/jobs/unknown", { headers: auth })).status).toBe(404)
    }))

  it.scopedLive("answers 429 with Retry-After at the concurrency limit, 409 for a running id, and cancels", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker({ maxConcurrency: 1 })
      const slow = yield* Effect.fork(run(worker.base, inferenceJob("slow-1", "slow")))
      yield* poll(call(worker.base, "/v1/worker/jobs/slow-1", { headers: auth }), (a) => a.status === 200)
      const running = yield* call(worker.base, "/v1/worker/jobs/slow-1", { headers: auth })
      expect(running.json).toMatchObject({ version: 1, task_id: "task-1", job_id: "slow-1", status: "running" })
      const busy = yield* run(worker.base, inferenceJob("other-1"))
      expect(busy.status).toBe(429)
      expect(busy.headers.get("retry-after")).toBe("5")
      expect((yield* run(worker.base, inferenceJob("slow-1", "slow"))).status).toBe(409)
      const cancel = yield* call(worker.base, "/v1/worker/jobs/slow-1/cancel", { method: "POST", headers: auth })
      expect(cancel.status).toBe(204)
      const reply = yield* Effect.fromFiber(slow)
      expect(reply.json).toMatchObject({ status: "failed", exit_code: -1, stderr: "cynode-worker: inference failed: canceled\n" })
      expect((yield* call(worker.base, "/v1/worker/jobs/slow-1", { headers: auth })).json).toEqual(reply.json)
      expect((yield* call(worker.base, "/v1/worker/jobs/slow-1/cancel", { method: "POST", headers: auth })).status).toBe(204)
      expect((yield* call(worker.base, "/v1/worker/jobs/nope/cancel", { method: "POST", headers: auth })).status).toBe(404)
      expect((yield* run(worker.base, inferenceJob("other-1"))).status).toBe(200)
    }), 30_000)

  it.scopedLive("refuses a send whose lease is older than one it has seen for that job (a send or a status question)", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker()
      // A reconciling dispatcher asked about the job under lease 7 (the node did not know it).
      expect((yield* call(worker.base, "/v1/worker/jobs/lease-1?lease_seq=7", { headers: auth })).status).toBe(404)
      // The paused dispatcher's send under lease 5 arrives afterwards: refused, nothing runs.
      const stale = yield* run(worker.base, { ...inferenceJob("lease-1"), lease_id: randomUUID(), lease_seq: 5 })
      expect(stale.status).toBe(409)
      expect(stale.json.detail).toContain("stale lease")
      expect(worker.calls).toEqual([])
      expect((yield* call(worker.base, "/v1/worker/jobs/lease-1", { headers: auth })).status).toBe(404)
      // The current lease runs it.
      const current = yield* run(worker.base, { ...inferenceJob("lease-1"), lease_id: randomUUID(), lease_seq: 8 })
      expect(current.status).toBe(200)
      expect(worker.calls).toHaveLength(1)
      expect((yield* call(worker.base, "/v1/worker/jobs/lease-1?lease_seq=x", { headers: auth })).status).toBe(400)
    }))

  it.scopedLive("a client that goes away stops nothing: the job finishes and its record says so", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker()
      const abort = new AbortController()
      const request = run(worker.base, sandboxJob("gone-1", "sleep 1; echo done"), { signal: abort.signal })
      yield* Effect.fork(Effect.either(Effect.catchAllDefect(request, () => Effect.void)))
      yield* poll(call(worker.base, "/v1/worker/jobs/gone-1", { headers: auth }), (a) => a.status === 200)
      abort.abort()
      const final = yield* poll(
        call(worker.base, "/v1/worker/jobs/gone-1", { headers: auth }),
        (a) => a.json.status !== "running"
      )
      expect(final.json).toMatchObject({ status: "completed", exit_code: 0, stdout: "done\n" })
    }), 30_000)

  it.scopedLive("a final record that cannot be written is answered from memory and the node reports itself unhealthy", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker()
      const answer = yield* Effect.fork(run(worker.base, sandboxJob("unsaved-1", "sleep 1; echo kept")))
      yield* poll(call(worker.base, "/v1/worker/jobs/unsaved-1", { headers: auth }), (a) => a.status === 200)
      // A directory where the record's temporary file goes: every write of the final record fails.
      const blocker = join(worker.settings.mountRoot, "unsaved-1", "job.json.tmp")
      yield* poll(Effect.sync(() => existsSync(join(worker.settings.mountRoot, "unsaved-1", "job.json"))), (written) => written)
      mkdirSync(blocker)
      const response = yield* answer.await.pipe(Effect.flatten)
      expect(response.json).toMatchObject({ status: "completed", stdout: "kept\n" })
      const status = yield* call(worker.base, "/v1/worker/jobs/unsaved-1", { headers: auth })
      expect(status.json).toMatchObject({ status: "completed", stdout: "kept\n" })
      const again = yield* run(worker.base, sandboxJob("unsaved-1", "echo must not run twice"))
      expect(again.json).toMatchObject({ status: "completed", stdout: "kept\n" })
      const unhealthy = yield* call(worker.base, "/readyz")
      expect(unhealthy.status).toBe(503)
      expect(unhealthy.json.text).toContain("unhealthy: job records cannot be written")
      const refused = yield* run(worker.base, sandboxJob("unsaved-2", "echo refused while unhealthy"))
      expect(refused.status).toBe(503)
      // Once the record can be written, the kept result is stored and the node is healthy again.
      rmSync(blocker, { recursive: true })
      const healthy = yield* poll(call(worker.base, "/readyz"), (a) => a.status === 200)
      expect(healthy.status).toBe(200)
      expect(JSON.parse(readFileSync(join(worker.settings.mountRoot, "unsaved-1", "job.json"), "utf8"))).toMatchObject({ status: "completed" })
    }), 40_000)

  it.scopedLive("refuses images outside the allowlist and reports a missing one as 422", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker({ allowedImages: [IMAGE, "localhost/cynode-missing:none"] })
      const forbidden = yield* run(worker.base, { ...sandboxJob("img-1", "true"), sandbox: { image: "docker.io/library/alpine", command: ["true"] } })
      expect(forbidden.status).toBe(403)
      expect(forbidden.json.type).toBe("urn:cynodeai:error:authorization")
      const missing = yield* run(worker.base, { ...sandboxJob("img-2", "true"), sandbox: { image: "localhost/cynode-missing:none", command: ["true"] } })
      expect(missing.status).toBe(422)
      expect(missing.json.type).toBe("urn:cynodeai:error:image_unavailable")
      // Refused jobs leave no record, so the dispatcher may try again.
      expect(existsSync(join(worker.settings.mountRoot, "img-2", "job.json"))).toBe(false)
    }), 30_000)

  it.scopedLive("at startup, reaps this node's leftover sandboxes and closes stale running records", () =>
    Effect.gen(function*() {
      let leftover = ""
      const worker = yield* startWorker({}, {
        before: (settings) =>
          Effect.gen(function*() {
            const rt = yield* ContainerRuntime
            mkdirSync(settings.mountRoot, { recursive: true })
            leftover = yield* rt.create({
              image: IMAGE,
              cmd: ["sleep", "60"],
              labels: { "io.cynode.node": settings.nodeSlug, "io.cynode.role": "sandbox", "io.cynode.job_id": "old-1" }
            })
            const created = leftover
            // Removed by the test's scope too, in case the worker under test does not.
            yield* Effect.addFinalizer(() => Effect.ignore(rt.remove(created)))
            yield* rt.start(leftover)
            yield* writeRecord(settings.mountRoot, {
              version: 1,
              task_id: "task-0",
              job_id: "old-1" as never,
              status: "running",
              started_at: "2026-03-01T10:00:00.000Z"
            } as never)
          })
      })
      const rt = yield* Effect.provide(ContainerRuntime, yield* Layer.build(Runtime))
      const inspected = yield* Effect.either(rt.inspect(leftover))
      expect(inspected._tag).toBe("Left")
      const record = yield* call(worker.base, "/v1/worker/jobs/old-1", { headers: auth })
      expect(record.json).toMatchObject({
        status: "failed",
        exit_code: -1,
        stderr: "cynode-worker: interrupted by node restart\n",
        started_at: "2026-03-01T10:00:00.000Z"
      })
    }), 30_000)

  it.scopedLive("on shutdown, a running job gets the grace period, then is stopped and answered", () =>
    Effect.gen(function*() {
      const { pending, nodeSlug } = yield* Effect.scoped(
        Effect.gen(function*() {
          const worker = yield* startWorker({ shutdownGraceSeconds: 1 })
          const pending = Effect.runPromise(run(worker.base, sandboxJob("sd-1", "echo working; sleep 30")))
          yield* poll(call(worker.base, "/v1/worker/jobs/sd-1", { headers: auth }), (a) => a.status === 200)
          return { pending, nodeSlug: worker.settings.nodeSlug }
        })
      )
      const reply = yield* Effect.promise(() => pending)
      expect(reply.json).toMatchObject({ status: "failed", exit_code: -1, stdout: "working\n", stderr: "cynode-worker: canceled by node shutdown\n" })
      const rt = yield* Effect.provide(ContainerRuntime, yield* Layer.build(Runtime))
      expect(yield* rt.listByLabel({ "io.cynode.node": nodeSlug })).toEqual([])
    }), 30_000)

  it.scopedLive("arbitrary JSON bodies are never answered with a 5xx", () =>
    Effect.gen(function*() {
      const worker = yield* startWorker()
      const samples = fc.sample(fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify({ version: 1, task_id: "t", job_id: v, sandbox: v }))), 60)
      for (const body of samples) {
        const answer = yield* run(worker.base, body)
        expect(answer.status, body).toBeLessThan(500)
        if (answer.status >= 400) expect(answer.json.type, body).toMatch(/^(urn:cynodeai:error:|https:\/\/cynode\.ai\/problems\/)/)
      }
    }), 60_000)
})
