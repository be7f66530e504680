import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, TestClock } from "effect"
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
  trustedProxies: [],
  maxBodyBytes: 1024,
  refreshGraceMs: 10_000
}

type Throttle = ReturnType<typeof makeThrottle>

/** One whole login attempt: admitted (or refused), then settled as the password check came out. */
const attempt = (throttle: Throttle, ip: string, handle: string, succeeded: boolean) =>
  Effect.gen(function*() {
    const admission = yield* throttle.admitLogin(ip, handle)
    if (Either.isLeft(admission)) return admission.left
    yield* throttle.settleLogin(ip, handle, admission.right, succeeded)
    return undefined
  })

const admitted = (throttle: Throttle, ip: string, handle: string) =>
  Effect.map(attempt(throttle, ip, handle, true), (refusal) => refusal === undefined)

describe("LoginThrottle", () => {
  it.effect("locks a handle (case-insensitively) after the threshold, even for the right password, until the duration passes", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      for (let i = 0; i < 3; i++) expect(yield* attempt(throttle, `10.0.0.${i}`, "Alice", false)).toBeUndefined()
      expect(yield* attempt(throttle, "10.0.0.9", "alice", true)).toEqual({ reason: "locked_out", retryAfterSeconds: 120 })
      expect(yield* admitted(throttle, "10.0.0.9", "bob")).toBe(true)
      yield* TestClock.adjust("119 seconds")
      expect(yield* attempt(throttle, "10.0.0.9", "alice", true)).toEqual({ reason: "locked_out", retryAfterSeconds: 1 })
      yield* TestClock.adjust("1 second")
      expect(yield* admitted(throttle, "10.0.0.9", "alice")).toBe(true)
    }))

  it.effect("counts an attempt when it is admitted and lets one login per handle be in flight", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100, ipFailureThreshold: 100 })
      // A burst: each guess is admitted only after the previous one settled, and the threshold-th locks the handle.
      const first = yield* throttle.admitLogin("10.0.0.1", "dave")
      expect(Either.isRight(first)).toBe(true)
      expect(yield* throttle.admitLogin("10.0.0.2", "DAVE")).toEqual(
        Either.left({ reason: "login_in_flight", retryAfterSeconds: 1 })
      )
      if (Either.isRight(first)) yield* throttle.settleLogin("10.0.0.1", "dave", first.right, false)
      const outcomes: Array<string> = []
      for (let i = 0; i < 10; i++) outcomes.push((yield* attempt(throttle, "10.0.0.3", "dave", false))?.reason ?? "checked")
      // 3 attempts in all were checked (the first above and two here); everything after is locked out.
      expect(outcomes.filter((o) => o === "checked")).toHaveLength(2)
      expect(outcomes.slice(2).every((o) => o === "locked_out")).toBe(true)
    }))

  it.effect("forgets failures older than the window, and a success resets the handle", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      yield* attempt(throttle, "10.0.0.1", "carol", false)
      yield* attempt(throttle, "10.0.0.2", "carol", false)
      yield* TestClock.adjust("61 seconds")
      yield* attempt(throttle, "10.0.0.3", "carol", false)
      yield* attempt(throttle, "10.0.0.4", "carol", false)
      expect(yield* attempt(throttle, "10.0.0.9", "CAROL", true)).toBeUndefined()
      yield* attempt(throttle, "10.0.0.5", "carol", false)
      yield* attempt(throttle, "10.0.0.6", "carol", false)
      expect(yield* admitted(throttle, "10.0.0.9", "carol")).toBe(true)
    }))

  it.effect("locks an IP after its failure threshold, for login and refresh; a success is not an IP failure", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle({ ...settings, rateLimitPerMinute: 100 })
      for (let i = 0; i < 10; i++) yield* attempt(throttle, "10.0.0.6", `ok${i}`, true)
      expect(yield* admitted(throttle, "10.0.0.6", "someone")).toBe(true)
      for (let i = 0; i < 4; i++) yield* attempt(throttle, "10.0.0.7", `user${i}`, false)
      expect((yield* attempt(throttle, "10.0.0.7", "someone", true))?.reason).toBe("locked_out")
      expect((yield* throttle.admitRefresh("10.0.0.7"))?.reason).toBe("locked_out")
      expect(yield* admitted(throttle, "10.0.0.8", "someone")).toBe(true)
    }))

  it.effect("limits login and refresh calls per IP per minute", () =>
    Effect.gen(function*() {
      const throttle = makeThrottle(settings)
      for (let i = 0; i < 3; i++) expect(yield* admitted(throttle, "10.0.0.1", `u${i}`)).toBe(true)
      for (let i = 0; i < 2; i++) expect(yield* throttle.admitRefresh("10.0.0.1")).toBeUndefined()
      yield* TestClock.adjust("20 seconds")
      expect(yield* throttle.admitRefresh("10.0.0.1")).toEqual({ reason: "rate_limited", retryAfterSeconds: 40 })
      yield* TestClock.adjust("40 seconds")
      expect(yield* admitted(throttle, "10.0.0.1", "u")).toBe(true)
    }))
})
