import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { JobPayload } from "../../schema/job.ts"
import { CreateTaskRequest } from "../../schema/task.ts"
import { jobFor } from "../../src/user-gateway/TasksHttp.ts"

const decodeJob = Schema.decodeUnknownEither(JobPayload)
const decodeTask = Schema.decodeUnknownSync(CreateTaskRequest)

describe("job payload", () => {
  it("is exactly one of sandbox or inference", () => {
    expect(Either.isRight(decodeJob({ command: ["sh", "-c", "echo hi"], timeout_seconds: 5, network_policy: "none" }))).toBe(true)
    expect(Either.isRight(decodeJob({ inference: { prompt: "hi", model: "tinyllama" } }))).toBe(true)
    expect(Either.isLeft(decodeJob({ command: ["true"], inference: { prompt: "hi" } }))).toBe(true)
    expect(Either.isLeft(decodeJob({}))).toBe(true)
    expect(Either.isLeft(decodeJob({ command: [] }))).toBe(true)
    expect(Either.isLeft(decodeJob({ command: ["true"], image: "--privileged" }))).toBe(true)
    expect(Either.isLeft(decodeJob({ command: ["true"], env: { "BAD-NAME": "x" } }))).toBe(true)
    expect(Either.isLeft(decodeJob({ inference: { prompt: "hi", extra: 1 } }))).toBe(true)
  })
})

describe("task creation", () => {
  it("turns prompt tasks into inference jobs and script/commands into sh -c sandbox jobs", () => {
    expect(jobFor(decodeTask({ prompt: "Say hi" }))).toEqual(Either.right({ inference: { prompt: "Say hi" } }))
    expect(jobFor(decodeTask({ prompt: "Say hi", use_inference: true }))).toEqual(Either.right({ inference: { prompt: "Say hi" } }))
    expect(jobFor(decodeTask({ prompt: "echo a", input_mode: "commands", timeout_seconds: 9 }))).toEqual(
      Either.right({ command: ["sh", "-c", "echo a"], timeout_seconds: 9 })
    )
  })

  it("refuses use_inference on sandbox tasks and a timeout on prompt tasks, naming the field", () => {
    const sandboxInference = jobFor(decodeTask({ prompt: "x", input_mode: "script", use_inference: true }))
    expect(Either.isLeft(sandboxInference) && sandboxInference.left.errors?.[0]?.path).toBe("use_inference")
    const promptTimeout = jobFor(decodeTask({ prompt: "x", timeout_seconds: 3 }))
    expect(Either.isLeft(promptTimeout) && promptTimeout.left.errors?.[0]?.path).toBe("timeout_seconds")
  })

  it("refuses unknown fields, blank prompts, NUL characters and out-of-range values", () => {
    const refuses = (body: unknown) => expect(() => decodeTask(body)).toThrow()
    refuses({ prompt: "x", image: "alpine" })
    refuses({ prompt: "x", use_sba: false })
    refuses({ prompt: " \n " })
    refuses({ prompt: "a\u0000b" })
    refuses({ prompt: "x", timeout_seconds: 0 })
    refuses({ prompt: "x", timeout_seconds: 1.5 })
    refuses({ prompt: "x", attachments: Array.from({ length: 17 }, () => "a") })
    refuses({ prompt: "x", project_id: "nope" })
  })
})
