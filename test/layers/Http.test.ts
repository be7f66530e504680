import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { cynodeMiddleware, parseListenAddress, serveApi } from "../../layers/Http.ts"
import { Identifier } from "../../schema/ids.ts"
import { NotFound, ProblemDetails, TooManyRequests } from "../../schema/problem.ts"

class EchoGroup extends HttpApiGroup.make("echo")
  .add(
    HttpApiEndpoint.post("echo", "/echo")
      .setPayload(Schema.Struct({ name: Identifier }))
      .addSuccess(Schema.Struct({ name: Schema.String }))
  )
  .add(HttpApiEndpoint.get("missing", "/missing").addError(NotFound))
  .add(HttpApiEndpoint.get("busy", "/busy").addError(TooManyRequests))
{}
class TestApi extends HttpApi.make("test").add(EchoGroup) {}

const EchoLive = HttpApiBuilder.group(TestApi, "echo", (handlers) =>
  handlers
    .handle("echo", ({ payload }) => Effect.succeed({ name: payload.name }))
    .handle("missing", () => Effect.fail(new NotFound({ detail: "no such thing" })))
    .handle("busy", () => Effect.fail(new TooManyRequests({ detail: "slow down", retry_after_seconds: 5 }))))

const ServerLive = serveApi(
  TestApi,
  HttpApiBuilder.api(TestApi).pipe(Layer.provide(EchoLive)),
  { host: "127.0.0.1", port: 0 },
  {
    routes: {
      publicRoutes: ["POST /echo", "GET /missing", "GET /busy"],
      defaultMaxBodyBytes: 1024
    }
  }
)

const baseUrl = HttpServer.addressFormattedWith((address) => Effect.succeed(address))

/** Every error body must decode as Problem Details. */
const problem = (res: Response) =>
  Effect.promise(() => res.json()).pipe(Effect.flatMap(Schema.decodeUnknown(ProblemDetails)), Effect.orDie)

const call = (path: string, init?: RequestInit) =>
  Effect.flatMap(baseUrl, (base) => Effect.promise(() => fetch(base + path, init)))

describe("Http", () => {
  it("parses listen addresses", () => {
    expect(parseListenAddress(":12082")).toEqual({ host: "0.0.0.0", port: 12082 })
    expect(parseListenAddress("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 })
    expect(parseListenAddress("[::1]:80")).toEqual({ host: "::1", port: 80 })
    expect(parseListenAddress("nope")).toBeUndefined()
    expect(typeof cynodeMiddleware).toBe("function")
  })

  it.layer(ServerLive)("serves Problem Details", (it) => {
    it.effect("answers a valid request and echoes the request id", () =>
      Effect.gen(function*() {
        const res = yield* call("/echo", {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": "req-1" },
          body: JSON.stringify({ name: "bdd-task" })
        })
        expect(res.status).toBe(200)
        expect(res.headers.get("x-request-id")).toBe("req-1")
        expect(yield* Effect.promise(() => res.text())).toBe(JSON.stringify({ name: "bdd-task" }))
      }))

    it.effect("maps schema failures to 400 with field errors", () =>
      Effect.gen(function*() {
        const res = yield* call("/echo", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "../etc" }) })
        expect(res.status).toBe(400)
        expect(res.headers.get("content-type")).toContain("application/problem+json")
        const body = yield* problem(res)
        expect(body.type).toBe("urn:cynodeai:error:validation")
        expect(body.instance).toBe(res.headers.get("x-request-id"))
        expect(body.errors?.[0]?.path).toBe("name")
      }))

    it.effect("maps malformed JSON to 400, not 500", () =>
      Effect.gen(function*() {
        const res = yield* call("/echo", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" })
        expect(res.status).toBe(400)
        expect((yield* problem(res)).detail).toContain("malformed JSON")
      }))

    it.effect("refuses oversized bodies with 413", () =>
      Effect.gen(function*() {
        const res = yield* call("/echo", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "x".repeat(5000) }) })
        expect(res.status).toBe(413)
        expect((yield* problem(res)).type).toBe("urn:cynodeai:error:payload_too_large")
      }))

    it.effect("answers a body that is not identity-encoded UTF-8 JSON with 415 without reading it", () =>
      Effect.gen(function*() {
        for (
          const headers of [
            { "content-type": "multipart/form-data; boundary=x" },
            { "content-type": "text/plain" },
            { "content-type": "application/json; charset=utf-16" },
            { "content-type": "application/json", "content-encoding": "gzip" }
          ]
        ) {
          const res = yield* call("/echo", { method: "POST", headers, body: "--x\r\n" })
          expect(res.status).toBe(415)
          expect((yield* problem(res)).status).toBe(415)
        }
        const ok = yield* call("/echo", {
          method: "POST",
          headers: { "content-type": "Application/JSON; charset=UTF-8" },
          body: JSON.stringify({ name: "ok" })
        })
        expect(ok.status).toBe(200)
      }))

    it.effect("refuses JSON nested deeper than any contract with 400, not 500", () =>
      Effect.gen(function*() {
        const deep = "[".repeat(300) + "]".repeat(300)
        const res = yield* call("/echo", { method: "POST", headers: { "content-type": "application/json" }, body: deep })
        expect(res.status).toBe(400)
        expect((yield* problem(res)).detail).toContain("nested deeper")
      }))

    it.effect("answers an empty body of another type at once, however often the body is read", () =>
      Effect.gen(function*() {
        const res = yield* call("/echo", { method: "POST", headers: { "content-type": "application/octet-stream" } })
        expect(res.status).toBe(400)
      }))

    it.effect("answers a body sent to no route with 404 without reading it", () =>
      Effect.gen(function*() {
        const res = yield* call("/nowhere", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })
        expect(res.status).toBe(404)
      }))

    it.effect("maps tagged errors and unknown routes", () =>
      Effect.gen(function*() {
        const missing = yield* call("/missing")
        expect(missing.status).toBe(404)
        expect((yield* problem(missing)).detail).toBe("no such thing")
        const busy = yield* call("/busy")
        expect(busy.status).toBe(429)
        expect(busy.headers.get("retry-after")).toBe("5")
        const unknown = yield* call("/nowhere")
        expect(unknown.status).toBe(404)
        expect((yield* problem(unknown)).type).toBe("urn:cynodeai:error:not_found")
      }))

    it.effect("serves the OpenAPI document", () =>
      Effect.gen(function*() {
        const res = yield* call("/openapi.json")
        expect(res.status).toBe(200)
        expect(yield* Effect.promise(() => res.text())).toContain('"/echo"')
        const docs = yield* call("/docs")
        expect(docs.status).toBe(200)
      }))
  })
})
