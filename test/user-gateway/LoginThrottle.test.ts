import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import type { GatewaySettings } from "../../src/user-gateway/GatewayConfig.ts"
import { makeThrottle } from "../../src/user-gateway/LoginThrottle.ts"

const settings: GatewaySettings = {
  listen: { host: "127.0.0.1", port: 0 },
  accessTtlMs: 900_000,
  refreshTtlMs: 3_600_000,
  rateLimitPerMinute: 5,
  lockoutThreshold: 3,
  lockoutWindowMs: 60_000,
  lockoutDurationMs: 120_000,
  ipFailureThreshold: 4,
  trustProxyHeaders: false,
  maxBodyBytes: 1024
}

describe("LoginThrottle", () => {
  it.effect("locks a handle (case-insensitively) after the threshold, even for the right password, until the duration passes", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      for (let i = 0; i < 3; i++) yield* throttle.recordFailure(`10.0.0.${i}`, "Alice")
      expect(yield* throttle.admitLogin("10.0.0.9", "alice")).toEqual({ reason: "locked_out", retryAfterSeconds: 120 })
      expect(yield* throttle.admitLogin("10.0.0.9", "bob")).toBeUndefined()
      yield* TestClock.adjust("119 seconds")
      expect(yield* throttle.admitLogin("10.0.0.9", "alice")).toEqual({ reason: "locked_out", retryAfterSeconds: 1 })
      yield* TestClock.adjust("1 second")
      expect(yield* throttle.admitLogin("10.0.0.9", "alice")).toBeUndefined()
    }))

  it.effect("forgets failures older than the window, and a success resets the handle", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      yield* throttle.recordFailure("10.0.0.1", "carol")
      yield* throttle.recordFailure("10.0.0.2", "carol")
      yield* TestClock.adjust("61 seconds")
      yield* throttle.recordFailure("10.0.0.3", "carol")
      expect(yield* throttle.admitLogin("10.0.0.9", "carol")).toBeUndefined()
      yield* throttle.recordFailure("10.0.0.3", "carol")
      yield* throttle.recordSuccess("CAROL")
      yield* throttle.recordFailure("10.0.0.3", "carol")
      expect(yield* throttle.admitLogin("10.0.0.9", "carol")).toBeUndefined()
    }))

  it.effect("locks an IP after its failure threshold, for login and refresh", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      for (let i = 0; i < 4; i++) yield* throttle.recordFailure("10.0.0.7", `user${i}`)
      expect((yield* throttle.admitLogin("10.0.0.7", "someone"))?.reason).toBe("locked_out")
      expect((yield* throttle.admitRefresh("10.0.0.7"))?.reason).toBe("locked_out")
      expect(yield* throttle.admitLogin("10.0.0.8", "someone")).toBeUndefined()
    }))

  it.effect("limits login and refresh calls per IP per minute", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle(settings)
      for (let i = 0; i < 3; i++) expect(yield* throttle.admitLogin("10.0.0.1", `u${i}`)).toBeUndefined()
      for (let i = 0; i < 2; i++) expect(yield* throttle.admitRefresh("10.0.0.1")).toBeUndefined()
      yield* TestClock.adjust("20 seconds")
      expect(yield* throttle.admitRefresh("10.0.0.1")).toEqual({ reason: "rate_limited", retryAfterSeconds: 40 })
      yield* TestClock.adjust("40 seconds")
      expect(yield* throttle.admitLogin("10.0.0.1", "u")).toBeUndefined()
    }))
})
