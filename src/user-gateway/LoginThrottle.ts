import { Clock, Context, Effect, Either, Layer } from "effect"
import { GatewayConfig, type GatewaySettings } from "./GatewayConfig.ts"

/**
 * In-memory abuse controls for login and refresh (user-gateway.md §3 "Abuse controls"):
 * - per IP, at most `RATE_LIMIT_PER_MINUTE` login+refresh calls per minute;
 * - per handle (lower-cased, counted even when unknown), `AUTH_LOCKOUT_THRESHOLD` failures within
 *   `AUTH_LOCKOUT_WINDOW` lock it for `AUTH_LOCKOUT_DURATION`, the right password included;
 * - per IP, `AUTH_IP_FAILURE_THRESHOLD` failures within the window lock the IP the same way.
 * A success resets the handle. Refusals carry the seconds until the caller may retry.
 *
 * A login attempt counts as a failure the moment it is admitted (a success takes it back), and a handle has at most
 * one login in flight: the password hash check takes time, so counting only after it would let a burst of
 * parallel guesses all be checked before the first one is counted.
 */

export interface Refusal {
  readonly reason: "rate_limited" | "locked_out" | "login_in_flight"
  readonly retryAfterSeconds: number
}

interface FailureState {
  failures: Array<number>
  lockedUntil: number
}

interface RateState {
  windowStart: number
  calls: number
}

/** Above this many tracked keys, stale entries are swept so unknown handles cannot grow memory without bound. */
const SWEEP_ABOVE = 10_000

const secondsUntil = (until: number, now: number) => Math.max(1, Math.ceil((until - now) / 1000))

export const makeThrottle = (settings: GatewaySettings) => {
  const rates = new Map<string, RateState>()
  const handles = new Map<string, FailureState>()
  const ips = new Map<string, FailureState>()
  /** Handles (lower-cased) with a login being checked right now. */
  const inFlight = new Set<string>()

  const sweep = (now: number) => {
    if (rates.size > SWEEP_ABOVE) {
      for (const [k, v] of rates) if (now - v.windowStart >= 60_000) rates.delete(k)
    }
    for (const map of [handles, ips]) {
      if (map.size <= SWEEP_ABOVE) continue
      for (const [k, v] of map) {
        if (v.lockedUntil <= now && v.failures.every((t) => now - t >= settings.lockoutWindowMs)) map.delete(k)
      }
    }
  }

  const lockOf = (map: Map<string, FailureState>, key: string, now: number): Refusal | undefined => {
    const state = map.get(key)
    return state !== undefined && state.lockedUntil > now
      ? { reason: "locked_out", retryAfterSeconds: secondsUntil(state.lockedUntil, now) }
      : undefined
  }

  /** Counts one call from `ip`; refuses it when the IP spent its calls for this minute. */
  const countCall = (ip: string, now: number): Refusal | undefined => {
    sweep(now)
    const state = rates.get(ip)
    if (state === undefined || now - state.windowStart >= 60_000) {
      rates.set(ip, { windowStart: now, calls: 1 })
      return undefined
    }
    state.calls += 1
    return state.calls > settings.rateLimitPerMinute
      ? { reason: "rate_limited", retryAfterSeconds: secondsUntil(state.windowStart + 60_000, now) }
      : undefined
  }

  const fail = (map: Map<string, FailureState>, key: string, threshold: number, now: number) => {
    const state = map.get(key) ?? { failures: [], lockedUntil: 0 }
    state.failures = [...state.failures.filter((t) => now - t < settings.lockoutWindowMs), now]
    if (state.failures.length >= threshold) {
      state.lockedUntil = now + settings.lockoutDurationMs
      state.failures = []
    }
    map.set(key, state)
  }

  /** Takes back the failure counted at admission (the newest one, unless a lock already consumed it). */
  const unfail = (map: Map<string, FailureState>, key: string, admittedAt: number) => {
    const state = map.get(key)
    if (state === undefined) return
    const i = state.failures.lastIndexOf(admittedAt)
    if (i >= 0) state.failures.splice(i, 1)
  }

  const withNow = <A>(f: (now: number) => A) => Effect.map(Clock.currentTimeMillis, f)

  /**
   * Admits one login attempt, counted as a failure now (Right: the admission time), or refuses it (Left). An
   * admitted attempt must be settled with `settleLogin` whatever happens (the handler does it on exit).
   */
  const admitLogin = (ip: string, handle: string) =>
    withNow((now): Either.Either<number, Refusal> => {
      const key = handle.toLowerCase()
      const refusal = countCall(ip, now) ?? lockOf(ips, ip, now) ?? lockOf(handles, key, now)
      if (refusal !== undefined) return Either.left(refusal)
      if (inFlight.has(key)) return Either.left({ reason: "login_in_flight", retryAfterSeconds: 1 })
      inFlight.add(key)
      fail(handles, key, settings.lockoutThreshold, now)
      fail(ips, ip, settings.ipFailureThreshold, now)
      return Either.right(now)
    })

  /** Ends an admitted attempt: a success resets the handle and takes back the IP's counted failure. */
  const settleLogin = (ip: string, handle: string, admittedAt: number, succeeded: boolean) =>
    Effect.sync(() => {
      const key = handle.toLowerCase()
      inFlight.delete(key)
      if (!succeeded) return
      handles.delete(key)
      unfail(ips, ip, admittedAt)
    })

  return {
    admitLogin,
    settleLogin,
    admitRefresh: (ip: string) => withNow((now) => countCall(ip, now) ?? lockOf(ips, ip, now)),
  }
}

export class LoginThrottle extends Context.Tag("cynode/user-gateway/LoginThrottle")<
  LoginThrottle,
  ReturnType<typeof makeThrottle>
>() {
  static readonly Live = Layer.effect(LoginThrottle, Effect.map(GatewayConfig, makeThrottle))
}
