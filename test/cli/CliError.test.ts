import { describe, expect, it } from "@effect/vitest"
import { ApiError, describe as describeError, ExitCode, NotLoggedIn, TaskNotCompleted, Unreachable, UsageError, WaitTimedOut } from "../../src/cli/CliError.ts"

describe("CLI errors", () => {
  it("show Problem Details as `error: <title>: <detail>` with each field", () => {
    const error = new ApiError({
      status: 400,
      title: "Bad Request",
      detail: "invalid body",
      errors: [{ path: "input_mode", message: "expected prompt|script|commands" }]
    })
    expect(describeError(error)).toBe("error: Bad Request: invalid body\n  - input_mode: expected prompt|script|commands")
    expect(error.exitCode).toBe(ExitCode.refused)
  })

  it("map each failure to its documented exit code", () => {
    expect(new ApiError({ status: 401, title: "Unauthorized", detail: "x" }).exitCode).toBe(3)
    expect(new ApiError({ status: 404, title: "Not Found", detail: "x" }).exitCode).toBe(4)
    expect(new ApiError({ status: 429, title: "Too Many Requests", detail: "x", retryAfterSeconds: 7 }).exitCode).toBe(4)
    expect(new ApiError({ status: 503, title: "Service Unavailable", detail: "x" }).exitCode).toBe(1)
    expect(new NotLoggedIn({ reason: "run `cynode login` first" }).exitCode).toBe(3)
    expect(new UsageError({ message: "x" }).exitCode).toBe(2)
    expect(new Unreachable({ url: "http://x", reason: "connection refused" }).exitCode).toBe(5)
    expect(new TaskNotCompleted({ task: "t", status: "failed" }).exitCode).toBe(6)
    expect(new WaitTimedOut({ task: "t", status: "running", seconds: 5 }).exitCode).toBe(7)
  })

  it("say how long to wait on 429 and how to recover on 401", () => {
    expect(describeError(new ApiError({ status: 429, title: "Too Many Requests", detail: "slow down", retryAfterSeconds: 7 })))
      .toContain("retry after 7 s")
    expect(describeError(new ApiError({ status: 401, title: "Unauthorized", detail: "session revoked" })))
      .toContain("cynode login")
  })
})
