import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "effect/FastCheck"
import { jobDeadlineMs, type DispatchSettingsShape } from "../../src/control-plane/DispatchSettings.ts"
import {
  completePayload,
  coolDownAfter,
  isCooling,
  pickNode,
  placeJobs,
  resultSummary,
  unsatisfiableReason,
  type NodeCandidate
} from "../../src/control-plane/DispatchRules.ts"
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

const candidate = (slug: string, inflight: number, free: number, inferencePath = true, labels: ReadonlyArray<string> = []): NodeCandidate => ({
  id: slug,
  slug,
  inferencePath,
  labels,
  inflight,
  free
})

const sandboxNeeds = { inference: false, labels: [] }
const inferenceNeeds = { inference: true, labels: [] }

describe("pickNode (placement)", () => {
  it("takes the node with the most free slots, then the fewest in flight (spread), ties by slug", () => {
    expect(pickNode([candidate("b", 1, 3), candidate("a", 1, 3), candidate("c", 0, 1)], sandboxNeeds)?.slug).toBe("a")
    expect(pickNode([candidate("b", 2, 2), candidate("a", 3, 2)], sandboxNeeds)?.slug).toBe("b")
    expect(pickNode([candidate("b", 1, 3), candidate("a", 1, 3)], sandboxNeeds)?.slug).toBe("a")
  })

  it("skips full nodes, nodes that are no inference path for inference needs, and nodes missing a label", () => {
    expect(pickNode([candidate("a", 0, 0), candidate("b", 3, 1)], sandboxNeeds)?.slug).toBe("b")
    expect(pickNode([candidate("a", 0, 2, false), candidate("b", 3, 1)], inferenceNeeds)?.slug).toBe("b")
    expect(pickNode([candidate("a", 0, 2, false)], inferenceNeeds)).toBeUndefined()
    const zoned = [candidate("a", 0, 4, true, ["zone=a"]), candidate("b", 0, 1, true, ["zone=b", "ssd"])]
    expect(pickNode(zoned, { inference: false, labels: ["zone=b"] })?.slug).toBe("b")
    expect(pickNode(zoned, { inference: false, labels: ["zone=b", "ssd"] })?.slug).toBe("b")
    expect(pickNode(zoned, { inference: false, labels: ["zone=a", "ssd"] })).toBeUndefined()
  })

  it("explains an unsatisfiable job with what it asked and what the live nodes have", () => {
    expect(unsatisfiableReason({ inference: true, labels: ["gpu"] }, [{ slug: "n1", inferencePath: false, labels: ["zone=a"] }]))
      .toBe("no live node has labels gpu and inference capability; live nodes: n1 [zone=a]")
  })

  it.prop(
    "the pick satisfies the needs, has the most free slots among eligible nodes, then the least in flight, then the smallest slug",
    {
      nodes: fc.uniqueArray(
        fc.record({
          slug: fc.stringMatching(/^[a-z]{1,4}$/),
          inflight: fc.nat(5),
          free: fc.nat(3),
          inferencePath: fc.boolean(),
          labels: fc.subarray(["x", "y", "z"])
        }),
        { selector: (n) => n.slug, maxLength: 8 }
      ),
      inference: fc.boolean(),
      labels: fc.subarray(["x", "y"])
    },
    ({ inference, labels, nodes }) => {
      const needs = { inference, labels }
      const eligible = nodes.filter((n) => n.free > 0 && (!inference || n.inferencePath) && labels.every((l) => n.labels.includes(l)))
      const pick = pickNode(nodes.map((n) => candidate(n.slug, n.inflight, n.free, n.inferencePath, n.labels)), needs)
      if (eligible.length === 0) {
        expect(pick).toBeUndefined()
        return
      }
      const most = Math.max(...eligible.map((n) => n.free))
      const roomy = eligible.filter((n) => n.free === most)
      const least = Math.min(...roomy.map((n) => n.inflight))
      const expected = roomy.filter((n) => n.inflight === least).map((n) => n.slug).sort()[0]
      expect(pick?.slug).toBe(expected)
    }
  )
})

describe("placeJobs (claim)", () => {
  const sandbox = (id: string, placement?: unknown) => ({ id, payload: { command: ["true"], ...(placement ? { placement } : {}) } })

  it("places the oldest jobs on the roomiest nodes, reports invalid and unplaceable ones, and stops at the last slot", () => {
    const nodes = [candidate("a", 0, 1, false), candidate("b", 0, 2, false)]
    const jobs = [
      sandbox("1"),
      { id: "2", payload: "echo" },
      sandbox("3", { inference: true }),
      sandbox("4"),
      { id: "5", payload: 1 },
      sandbox("6"),
      { id: "7", payload: 1 }
    ]
    const plan = placeJobs(jobs, nodes, 2, defaults)
    expect(plan.map((p) => [p.job.id, p._tag, p._tag === "Placed" ? p.node.slug : ""])).toEqual([
      ["1", "Placed", "b"],
      ["2", "Invalid", ""],
      ["3", "NoNode", ""],
      ["4", "Placed", "a"],
      ["5", "Invalid", ""]
    ])
    expect(nodes.map((n) => [n.slug, n.free, n.inflight])).toEqual([["a", 0, 1], ["b", 1, 1]])
  })
})

describe("cool-down", () => {
  it("doubles from 2 s up to 30 s, and a new config ack ends it early", () => {
    const first = coolDownAfter(undefined, 1_000)
    expect(first).toEqual({ failures: 1, since: 1_000, until: 3_000 })
    let cool = first
    for (let i = 0; i < 6; i++) cool = coolDownAfter(cool, 1_000)
    expect(cool.until - cool.since).toBe(30_000)
    expect(isCooling(first, null, 2_000)).toBe(true)
    expect(isCooling(first, null, 3_000)).toBe(false)
    expect(isCooling(first, new Date(1_500), 2_000)).toBe(false)
    expect(isCooling(undefined, null, 2_000)).toBe(false)
  })
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
