import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as fc from "effect/FastCheck"
import { fragments } from "../../src/inference-standin/Answer.ts"
import { parseStandinModels } from "../../src/inference-standin/Models.ts"
import { chatReply, generateReply, type Timing } from "../../src/inference-standin/Replies.ts"
import { startStandin, type RequestLog } from "../../src/inference-standin/server.ts"

/** The stand-in in-process on a free loopback port, with its access log captured. */
class Standin extends Context.Tag("test/Standin")<Standin, { readonly baseUrl: string; readonly logs: Array<RequestLog> }>() {}

const StandinLive = Layer.scoped(
  Standin,
  Effect.gen(function*() {
    const logs: Array<RequestLog> = []
    const running = yield* Effect.acquireRelease(
      Effect.promise(() =>
        startStandin({ host: "127.0.0.1", port: 0, models: parseStandinModels("standin, tiny:1b"), log: (e) => logs.push(e) })
      ),
      (s) => Effect.promise(() => s.close())
    )
    return { baseUrl: `http://127.0.0.1:${running.port}`, logs }
  })
)

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const call = (path: string, init?: RequestInit) =>
  Effect.gen(function*() {
    const { baseUrl } = yield* Standin
    return yield* Effect.promise(async (): Promise<Answer> => {
      const res = await fetch(baseUrl + path, init)
      return { status: res.status, headers: res.headers, text: await res.text() }
    })
  })

const post = (path: string, body: unknown) =>
  call(path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) })

type Chunk = Record<string, unknown> & { readonly done: boolean }

const ndjson = (text: string): Array<Chunk> =>
  text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Chunk)

const generated = (chunk: Chunk): string => String(chunk["response"])
const chatted = (chunk: Chunk): string => String((chunk["message"] as { content: string }).content)

/** Everything except the clock-dependent fields, for determinism checks. */
const timeless = (chunk: Chunk) => {
  const { created_at: _c, total_duration: _t, eval_duration: _e, ...rest } = chunk
  return rest
}

describe("inference stand-in server", () => {
  it.layer(StandinLive)("Ollama API subset", (it) => {
    it.effect("answers /api/version with the stand-in version and header", () =>
      Effect.gen(function*() {
        const res = yield* call("/api/version")
        expect(res.status).toBe(200)
        expect(res.headers.get("content-type")).toContain("application/json")
        expect(res.headers.get("x-cynode-standin")).toBe("true")
        expect(JSON.parse(res.text)).toEqual({ version: "0.0.0-cynode-standin" })
      }))

    it.effect("lists STANDIN_MODELS on /api/tags with Ollama's entry shape", () =>
      Effect.gen(function*() {
        const res = yield* call("/api/tags")
        expect(res.status).toBe(200)
        const { models } = JSON.parse(res.text) as { models: Array<Record<string, unknown>> }
        expect(models.map((m) => m["name"])).toEqual(["standin:latest", "tiny:1b"])
        for (const m of models) {
          expect(m["model"]).toBe(m["name"])
          expect(m["modified_at"]).toBe("2025-01-01T00:00:00Z")
          expect(m["size"]).toBe(0)
          expect(m["digest"]).toMatch(/^[0-9a-f]{64}$/)
          expect(m["details"]).toMatchObject({ family: "cynode-standin", parameter_size: "0" })
        }
      }))

    it.effect("streams /api/generate as NDJSON fragments, then a done:true summary", () =>
      Effect.gen(function*() {
        const res = yield* post("/api/generate", { model: "standin", prompt: "What is 2+2?" })
        expect(res.status).toBe(200)
        expect(res.headers.get("content-type")).toBe("application/x-ndjson")
        expect(res.headers.get("x-cynode-standin")).toBe("true")
        const chunks = ndjson(res.text)
        const last = chunks[chunks.length - 1]
        expect(chunks.slice(0, -1).every((c) => c.done === false && c["model"] === "standin")).toBe(true)
        expect(chunks.length).toBeGreaterThan(2)
        expect(chunks.slice(0, -1).map(generated).join("")).toBe("CyNode stand-in (not Ollama) answering standin: What is 2+2?")
        expect(last).toMatchObject({ model: "standin", response: "", done: true, done_reason: "stop", prompt_eval_count: 3, eval_count: 9 })
        expect(last?.["total_duration"]).toBeGreaterThan(0)
        expect(typeof last?.["created_at"]).toBe("string")
      }))

    it.effect("answers /api/generate with stream:false as one object", () =>
      Effect.gen(function*() {
        const res = yield* post("/api/generate", { model: "tiny:1b", prompt: "hello", stream: false, options: { temperature: 0 } })
        expect(res.status).toBe(200)
        expect(res.headers.get("content-type")).toContain("application/json")
        expect(JSON.parse(res.text)).toMatchObject({
          model: "tiny:1b",
          response: "CyNode stand-in (not Ollama) answering tiny:1b: hello",
          done: true,
          done_reason: "stop"
        })
      }))

    it.effect("answers /api/chat from the last user message, streamed and whole", () =>
      Effect.gen(function*() {
        const messages = [
          { role: "system", content: "be brief" },
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          { role: "user", content: "second question" }
        ]
        const expected = "CyNode stand-in (not Ollama) answering standin:latest: second question"
        const streamed = ndjson((yield* post("/api/chat", { model: "standin:latest", messages })).text)
        expect(streamed.slice(0, -1).every((c) => c.done === false)).toBe(true)
        expect(streamed.map(chatted).join("")).toBe(expected)
        expect(streamed[streamed.length - 1]).toMatchObject({ done: true, done_reason: "stop", message: { role: "assistant", content: "" } })
        const whole = JSON.parse((yield* post("/api/chat", { model: "standin:latest", messages, stream: false })).text) as Chunk
        expect(whole).toMatchObject({ model: "standin:latest", done: true, done_reason: "stop", message: { role: "assistant", content: expected } })
      }))

    it.effect("answers an unknown model with 404 on both completion routes", () =>
      Effect.gen(function*() {
        for (const path of ["/api/generate", "/api/chat"]) {
          const res = yield* post(path, { model: "llama3", prompt: "hi", messages: [] })
          expect(res.status).toBe(404)
          expect(res.headers.get("x-cynode-standin")).toBe("true")
          expect(JSON.parse(res.text)).toEqual({ error: "model 'llama3' not found" })
        }
      }))

    it.effect("answers malformed or ill-typed bodies with 400 and an error text", () =>
      Effect.gen(function*() {
        const bad = [
          yield* post("/api/generate", "{not json"),
          yield* post("/api/chat", ""),
          yield* post("/api/generate", { model: "standin", prompt: 42 }),
          yield* post("/api/chat", { model: "standin", messages: "hi" }),
          yield* post("/api/generate", { prompt: "no model" })
        ]
        for (const res of bad) {
          expect(res.status).toBe(400)
          expect(res.headers.get("x-cynode-standin")).toBe("true")
          expect(typeof (JSON.parse(res.text) as { error: unknown }).error).toBe("string")
        }
        expect(JSON.parse(bad[0]?.text ?? "").error).toMatch(/^invalid JSON body/)
        expect(JSON.parse(bad[4]?.text ?? "").error).toBe("model is required")
      }))

    it.effect("refuses unknown paths, wrong methods and oversized bodies", () =>
      Effect.gen(function*() {
        const missing = yield* call("/api/pull")
        expect(missing.status).toBe(404)
        expect(missing.headers.get("x-cynode-standin")).toBe("true")
        const wrongMethod = yield* call("/api/generate")
        expect(wrongMethod.status).toBe(405)
        expect(wrongMethod.headers.get("allow")).toBe("POST")
        const huge = yield* post("/api/generate", { model: "standin", prompt: "x".repeat(1024 * 1024 + 1) })
        expect(huge.status).toBe(413)
      }))

    it.effect("gives identical answers to identical requests", () =>
      Effect.gen(function*() {
        const request = { model: "standin", prompt: "  same\tprompt, same answer\n" }
        const first = ndjson((yield* post("/api/generate", request)).text).map(timeless)
        const second = ndjson((yield* post("/api/generate", request)).text).map(timeless)
        expect(second).toEqual(first)
      }))

    it.effect("logs one JSON line per request, without the prompt", () =>
      Effect.gen(function*() {
        const { logs } = yield* Standin
        const before = logs.length
        yield* call("/api/version")
        yield* post("/api/generate", { model: "standin", prompt: "secret-ish prompt", stream: false })
        yield* post("/api/chat", { model: "ghost" })
        // The log line is written when the response closes, which can trail the client by a tick.
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
        const lines = logs.slice(before)
        expect(lines.map((l) => [l.method, l.path, l.status, l.model])).toEqual([
          ["GET", "/api/version", 200, undefined],
          ["POST", "/api/generate", 200, "standin"],
          ["POST", "/api/chat", 404, "ghost"]
        ])
        expect(JSON.stringify(lines)).not.toContain("secret-ish")
      }))

    it.effect.prop(
      "over HTTP, stream fragments concatenate to the stream:false answer",
      { prompt: fc.string({ unit: "binary", maxLength: 80 }) },
      ({ prompt }) =>
        Effect.gen(function*() {
          const streamed = ndjson((yield* post("/api/generate", { model: "standin", prompt })).text)
          const whole = JSON.parse((yield* post("/api/generate", { model: "standin", prompt, stream: false })).text) as Chunk
          expect(streamed.map(generated).join("")).toBe(generated(whole))
          expect(generated(whole)).toBe(`CyNode stand-in (not Ollama) answering standin: ${prompt}`)
        }),
      { fastCheck: { numRuns: 25 } }
    )
  })

  const timing: Timing = { created_at: "2026-01-01T00:00:00.000Z", total_duration: 1 }
  const prompts = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: fc.constantFrom(" ", "\n", "\t", "a", "é", "🙂", "\u3000") })
  )

  it.prop("generate is deterministic and its stream concatenates to the whole answer", { model: fc.constantFrom("standin", "tiny:1b"), prompt: prompts }, ({ model, prompt }) => {
    const stream = generateReply({ model, prompt }, timing, true)
    const whole = generateReply({ model, prompt }, timing, false)
    expect(generateReply({ model, prompt }, timing, true)).toEqual(stream)
    expect(whole).toHaveLength(1)
    expect(stream.map((c) => c.response).join("")).toBe(whole[0]?.response)
    expect(whole[0]?.response).toBe(`CyNode stand-in (not Ollama) answering ${model}: ${prompt}`)
    expect(stream.slice(0, -1).every((c) => !c.done && c.response !== "")).toBe(true)
    expect(stream[stream.length - 1]).toMatchObject({ done: true, done_reason: "stop", eval_count: stream.length - 1 })
  })

  it.prop("fragments of any text are non-empty and concatenate to it", { text: prompts }, ({ text }) => {
    const pieces = fragments(text)
    expect(pieces.join("")).toBe(text)
    expect(pieces.every((p) => p !== "")).toBe(true)
  })

  it.prop("chat streams concatenate to the whole chat answer", { prompt: prompts }, ({ prompt }) => {
    const completion = { model: "standin", prompt }
    const streamed = chatReply(completion, timing, true).map((c) => c.message.content).join("")
    expect(streamed).toBe(chatReply(completion, timing, false)[0]?.message.content)
  })
})
