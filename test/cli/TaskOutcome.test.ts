import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Schema } from "effect"
import { TaskResult } from "../../schema/task.ts"
import { outcomeOf, renderOutcome } from "../../src/cli/TaskOutcome.ts"

const TASK = "0d9c1f52-3c2e-4f51-9f0e-6d1f2a3b4c5d"
const JOB = "7a1c1f52-3c2e-4f51-9f0e-6d1f2a3b4c5d"

/** A result as the gateway sends it, decoded with the gateway's own schema. */
const decodeResult = Schema.decodeUnknownSync(TaskResult)

const resultWith = (inner: unknown, status: "completed" | "failed" = "completed"): TaskResult =>
  decodeResult({
    task_id: TASK,
    status,
    jobs: [{
      id: JOB,
      status,
      result: JSON.stringify(inner),
      started_at: "2026-02-19T10:00:01Z",
      ended_at: "2026-02-19T10:00:03Z"
    }]
  })

describe("TaskOutcome", () => {
  it("reads stdout, stderr and the exit code out of the worker response (JSON text inside the result)", () => {
    const outcome = outcomeOf(resultWith({ version: 1, status: "completed", exit_code: 0, stdout: "hello\n", stderr: "" }))
    expect(outcome).toMatchObject({ task_id: TASK, status: "completed", exit_code: 0, stdout: "hello\n", stderr: "" })
    expect(outcome.jobs[0]?.result).toMatchObject({ version: 1, exit_code: 0 })
    const text = renderOutcome(outcome, "my-task")
    expect(text).toContain("task my-task: completed")
    expect(text).toContain("exit code 0, 2 s")
    expect(text).toContain("stdout:\n  hello")
    expect(text).not.toContain("stderr:")
  })

  it("shows a dispatch failure's error and type", () => {
    const outcome = outcomeOf(resultWith({ version: 1, status: "failed", error: "no node answered", error_type: "dispatch_failed" }, "failed"))
    expect(outcome.error).toBe("dispatch_failed: no node answered")
    expect(outcome.exit_code).toBeUndefined()
    expect(renderOutcome(outcome)).toContain("error: dispatch_failed: no node answered")
  })

  it("a queued task has no result yet", () => {
    const outcome = outcomeOf(decodeResult({ task_id: TASK, status: "queued", jobs: [{ id: JOB, status: "queued" }] }))
    expect(outcome).toMatchObject({ status: "queued", stdout: "", stderr: "" })
    expect(outcome.jobs[0]).toEqual({ id: JOB, status: "queued" })
    expect(renderOutcome(outcome)).toContain("(no result yet)")
  })

  it.prop("any stdout, stderr and exit code survive the double encoding", [fc.string(), fc.string(), fc.integer({ min: 0, max: 255 })], ([stdout, stderr, code]) => {
    const outcome = outcomeOf(resultWith({ version: 1, status: "completed", exit_code: code, stdout, stderr }))
    expect(outcome.stdout).toBe(stdout)
    expect(outcome.stderr).toBe(stderr)
    expect(outcome.exit_code).toBe(code)
  })
})
