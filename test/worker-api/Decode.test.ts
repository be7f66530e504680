import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fc from "effect/FastCheck"
import { decodeRunRequest } from "../../src/worker-api/Decode.ts"

/** Request decoding (worker-node.md §6): every input gives a typed answer, never a defect. */

const decode = (body: string) => Effect.runSync(Effect.either(decodeRunRequest(body)))
const errorTag = (body: string) => {
  const r = decode(body)
  return Either.isLeft(r) ? r.left._tag : "ok"
}

const identifier = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$/)
const envKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/)
const safe = fc.string({ maxLength: 40 }).filter((s) => !s.includes("\u0000"))

const sandboxRequest = fc.record({
  version: fc.constant(1),
  task_id: identifier,
  job_id: identifier,
  sandbox: fc.record(
    {
      image: fc.constant("localhost/cynode-sandbox:latest"),
      command: fc.array(safe, { minLength: 1, maxLength: 4 }),
      env: fc.dictionary(envKey, safe, { maxKeys: 4 }),
      timeout_seconds: fc.integer({ min: 1, max: 100_000 }),
      network_policy: fc.constantFrom("none", "restricted")
    },
    { requiredKeys: ["image", "command"] }
  ),
  extra_unknown_field: fc.jsonValue()
}, { requiredKeys: ["version", "task_id", "job_id", "sandbox"] })

const base = (patch: Record<string, unknown>) =>
  JSON.stringify({ version: 1, task_id: "bdd-task", job_id: "bdd-job", sandbox: { image: "img:1", command: ["true"] }, ...patch })

describe("decodeRunRequest", () => {
  it("refuses JSON nested deeper than any contract with 400 (error rendering would overflow the stack)", () => {
    const result = decode("[".repeat(5_000) + "]".repeat(5_000))
    expect(Either.isLeft(result) && result.left._tag === "BadRequest" && result.left.detail.includes("nested deeper")).toBe(true)
  })

  it.prop("arbitrary JSON never throws and is answered with a typed result", [fc.json()], ([json]) => {
    expect(["ok", "BadRequest", "UnsupportedPayloadVersion"]).toContain(errorTag(json))
  })

  it.prop("arbitrary text never throws", [fc.string({ maxLength: 200 })], ([text]) => {
    expect(["ok", "BadRequest", "UnsupportedPayloadVersion"]).toContain(errorTag(text))
  })

  it.prop("valid sandbox requests decode, unknown fields ignored", [sandboxRequest], ([request]) => {
    const r = decode(JSON.stringify(request))
    expect(Either.isRight(r)).toBe(true)
    if (Either.isRight(r)) {
      expect(r.right.job_id).toBe(request.job_id)
      expect(r.right.sandbox?.command).toEqual(request.sandbox.command)
      expect("extra_unknown_field" in r.right).toBe(false)
    }
  })

  it.prop(
    "mutating a valid request into an invalid one is a 400, never a 5xx",
    [sandboxRequest, fc.constantFrom("task_id", "job_id", "version", "sandbox"), fc.jsonValue()],
    ([request, key, value]) => {
      const tag = errorTag(JSON.stringify({ ...request, [key]: value }))
      expect(["ok", "BadRequest", "UnsupportedPayloadVersion"]).toContain(tag)
    }
  )

  it("refuses hostile ids before any use", () => {
    for (const id of ["..", "../etc", "a/b", "", "-x", ".hidden", "a..b", "x".repeat(129), "a\u0000b", "a b", "ü"]) {
      expect(errorTag(base({ job_id: id }))).toBe("BadRequest")
      expect(errorTag(base({ task_id: id }))).toBe("BadRequest")
    }
    expect(errorTag(base({ job_id: "0f8fad5b-d9cb-469f-a165-70867728950e" }))).toBe("ok")
    expect(errorTag(base({ job_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV" }))).toBe("ok")
  })

  it("checks the sandbox fields", () => {
    const sandbox = (patch: Record<string, unknown>) => base({ sandbox: { image: "img:1", command: ["true"], ...patch } })
    expect(errorTag(sandbox({ image: "-v=/:/host" }))).toBe("BadRequest")
    expect(errorTag(sandbox({ command: [] }))).toBe("BadRequest")
    expect(errorTag(sandbox({ command: ["a\u0000"] }))).toBe("BadRequest")
    expect(errorTag(sandbox({ env: { "1BAD": "x" } }))).toBe("BadRequest")
    expect(errorTag(sandbox({ env: { "A-B": "x" } }))).toBe("BadRequest")
    expect(errorTag(sandbox({ env: { OK: "a\u0000" } }))).toBe("BadRequest")
    expect(errorTag(sandbox({ env: { CYNODE_TASK_ID: "forged" } }))).toBe("ok")
    expect(errorTag(sandbox({ timeout_seconds: 0 }))).toBe("BadRequest")
    expect(errorTag(sandbox({ timeout_seconds: 1.5 }))).toBe("BadRequest")
    expect(errorTag(sandbox({ network_policy: "open" }))).toBe("BadRequest")
    expect(errorTag(sandbox({ use_inference: false }))).toBe("ok")
  })

  it("refuses later-phase fields with a clear message", () => {
    for (const body of [base({ sandbox: { image: "i", command: ["x"], use_inference: true } }), base({ job_spec_json: "{}" })]) {
      const r = decode(body)
      expect(Either.isLeft(r) && r.left._tag === "BadRequest" && r.left.detail.includes("unsupported in Phase 1")).toBe(true)
    }
  })

  it("wants exactly one of sandbox and inference, and version 1 after the schema", () => {
    const inference = { model: "standin:latest", prompt: "Say hello" }
    expect(errorTag(base({ inference }))).toBe("BadRequest")
    expect(errorTag(JSON.stringify({ version: 1, task_id: "t", job_id: "j" }))).toBe("BadRequest")
    expect(errorTag(JSON.stringify({ version: 1, task_id: "t", job_id: "j", inference }))).toBe("ok")
    expect(errorTag(JSON.stringify({ version: 1, task_id: "t", job_id: "j", inference: { model: "", prompt: "x" } }))).toBe("BadRequest")
    expect(errorTag(JSON.stringify({ version: 1, task_id: "t", job_id: "j", inference: { model: "m", prompt: "" } }))).toBe("BadRequest")
    expect(errorTag(base({ version: 2 }))).toBe("UnsupportedPayloadVersion")
    expect(errorTag(base({ version: "1" }))).toBe("BadRequest")
    expect(errorTag("")).toBe("BadRequest")
  })
})
