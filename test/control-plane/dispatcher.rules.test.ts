import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "effect/FastCheck"
import { jobDeadlineMs, type DispatchSettingsShape } from "../../src/control-plane/DispatchSettings.ts"
import { completePayload, pickNode, resultSummary, type NodeCandidate } from "../../src/control-plane/JobsRepo.ts"
import { errorCode, retryAfterMs } from "../../src/control-plane/WorkerClient.ts"

/** The dispatcher's pure rules (control-plane.md §9): payload completion, node choice, summary, deadline. */

const defaults = { sandboxImage: "localhost/cynode-sandbox:latest", inferenceModel: "standin:latest" }

describe("completePayload (step 4)", () => {
  it("fills the deployment's image into a sandbox job and keeps the rest", () => {
    const done = completePayload({ command: ["sh", "-c", "echo hi"], timeout_seconds: 5, env: { A: "1" } }, defaults)
    expect(done).toEqual(Either.right({
      _tag: "sandbox",
      sandbox: { image: defaults.sandboxImage, command: ["sh", "-c", "echo hi"], timeout_seconds: 5, env: { A: "1" } }
    }))
  })

  it("keeps an image or model the job names, and fills the model of an inference job", () => {
    expect(completePayload({ image: "x/y:1", command: ["true"] }, defaults)).toEqual(
      Either.right({ _tag: "sandbox", sandbox: { image: "x/y:1", command: ["true"] } })
    )
    expect(completePayload({ inference: { prompt: "hi" } }, defaults)).toEqual(
      Either.right({ _tag: "inference", inference: { prompt: "hi", model: "standin:latest" } })
    )
  })

  it.each([
    ["both variants", { command: ["true"], inference: { prompt: "hi" } }],
    ["neither", {}],
    ["an empty command", { command: [] }],
    ["an unknown field", { command: ["true"], use_inference: true }],
    ["a bad timeout", { command: ["true"], timeout_seconds: -1 }],
    ["not an object", "echo hi"]
  ])("refuses %s with a readable reason", (_, payload) => {
    const done = completePayload(payload, defaults)
    expect(Either.isLeft(done)).toBe(true)
    expect(Either.isLeft(done) ? done.left : "").toMatch(/^the job payload is neither a sandbox nor an inference job/)
  })
})

const candidate = (slug: string, inflight: number, free: number, inferencePath = true): NodeCandidate => ({
  id: slug,
  slug,
  inferencePath,
  inflight,
  free
})

describe("pickNode (step 2)", () => {
  it("takes the node with the fewest jobs in flight, ties by slug", () => {
    expect(pickNode([candidate("b", 1, 3), candidate("a", 1, 3), candidate("c", 0, 1)], false)?.slug).toBe("c")
    expect(pickNode([candidate("b", 1, 3), candidate("a", 1, 3)], false)?.slug).toBe("a")
  })

  it("skips full nodes, and nodes that are no inference path for inference jobs", () => {
    expect(pickNode([candidate("a", 0, 0), candidate("b", 3, 1)], false)?.slug).toBe("b")
    expect(pickNode([candidate("a", 0, 2, false), candidate("b", 3, 1)], true)?.slug).toBe("b")
    expect(pickNode([candidate("a", 0, 2, false)], true)).toBeUndefined()
  })

  it.prop(
    "the pick has free capacity, the least in flight among eligible nodes, and the smallest slug among those",
    {
      nodes: fc.uniqueArray(
        fc.record({ slug: fc.stringMatching(/^[a-z]{1,4}$/), inflight: fc.nat(5), free: fc.nat(3), inferencePath: fc.boolean() }),
        { selector: (n) => n.slug, maxLength: 8 }
      ),
      inference: fc.boolean()
    },
    ({ nodes, inference }) => {
      const eligible = nodes.filter((n) => n.free > 0 && (!inference || n.inferencePath))
      const pick = pickNode(nodes.map((n) => candidate(n.slug, n.inflight, n.free, n.inferencePath)), inference)
      if (eligible.length === 0) {
        expect(pick).toBeUndefined()
        return
      }
      const least = Math.min(...eligible.map((n) => n.inflight))
      const expected = eligible.filter((n) => n.inflight === least).map((n) => n.slug).sort()[0]
      expect(pick?.slug).toBe(expected)
    }
  )
})

describe("resultSummary (step 6)", () => {
  const worker = (status: string, stdout: string, stderr = "") => ({ version: 1, status, exit_code: 0, stdout, stderr })

  it("is the first stdout line of a completed job, else stderr's, else `completed`", () => {
    expect(resultSummary(worker("completed", "\nhello\nworld\n"), "completed")).toBe("hello")
    expect(resultSummary(worker("completed", "", "warn\n"), "completed")).toBe("warn")
    expect(resultSummary(worker("completed", ""), "completed")).toBe("completed")
  })

  it("names the status otherwise, the failure class of a dispatch failure, and a canceled job", () => {
    expect(resultSummary(worker("timeout", "partial"), "failed")).toBe("job timeout")
    expect(resultSummary(worker("failed", "partial"), "failed")).toBe("job failed")
    expect(resultSummary({ version: 1, status: "failed", error: "x", error_type: "worker_auth_failed" }, "failed"))
      .toBe("job failed (worker_auth_failed)")
    expect(resultSummary(worker("failed", ""), "canceled")).toBe("job canceled")
  })

  it.prop("is at most 200 code points and never splits one", { line: fc.string({ unit: "grapheme", minLength: 1, maxLength: 400 }) }, ({ line }) => {
    const summary = resultSummary(worker("completed", `${line.replace(/\n/g, " ")}\n`), "completed")
    expect(Array.from(summary).length).toBeLessThanOrEqual(200)
    expect(summary).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/)
  })
})

describe("deadline and Retry-After", () => {
  const settings = { maxJobTimeoutSeconds: 3600, deadlineGraceMs: 300_000 } as DispatchSettingsShape

  it("is the job's timeout capped by the maximum, plus the grace", () => {
    expect(jobDeadlineMs(settings, 10)).toBe(310_000)
    expect(jobDeadlineMs(settings, undefined)).toBe(3_900_000)
    expect(jobDeadlineMs(settings, 10_800)).toBe(3_900_000)
  })

  it("reads Retry-After as seconds or a date, 5 s when absent or unreadable", () => {
    expect(retryAfterMs("7")).toBe(7000)
    expect(retryAfterMs(undefined)).toBe(5000)
    expect(retryAfterMs("soon")).toBe(5000)
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
  })

  it("finds undici's error code through cause chains", () => {
    expect(errorCode(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBe("ECONNREFUSED")
    expect(errorCode(new Error("fetch failed", { cause: Object.assign(new Error("y"), { code: "UND_ERR_SOCKET" }) }))).toBe("UND_ERR_SOCKET")
    expect(errorCode(new Error("plain"))).toBeUndefined()
  })
})
