import { Clock, Context, Effect, Layer } from "effect"
import { GatewayConfig, type GatewaySettings } from "./GatewayConfig.ts"

/**
 * In-memory abuse controls for login and refresh (user-gateway.md §3 "Abuse controls"):
 * - per IP, at most `RATE_LIMIT_PER_MINUTE` login+refresh calls per minute;
 * - per handle (lower-cased, counted even when unknown), `AUTH_LOCKOUT_THRESHOLD` failures within
 *   `AUTH_LOCKOUT_WINDOW` lock it for `AUTH_LOCKOUT_DURATION`, the right password included;
 * - per IP, `AUTH_IP_FAILURE_THRESHOLD` failures within the window lock the IP the same way.
 * A success resets the handle. Refusals carry the seconds until the caller may retry.
 */

export interface Refusal {
  readonly reason: "rate_limited" | "locked_out"
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

  const withNow = <A>(f: (now: number) => A) => Effect.map(Clock.currentTimeMillis, f)

  return {
    admitLogin: (ip: string, handle: string) =>
      withNow((now) => countCall(ip, now) ?? lockOf(ips, ip, now) ?? lockOf(handles, handle.toLowerCase(), now)),
    admitRefresh: (ip: string) => withNow((now) => countCall(ip, now) ?? lockOf(ips, ip, now)),
    recordFailure: (ip: string, handle: string) =>
      withNow((now) => {
        fail(handles, handle.toLowerCase(), settings.lockoutThreshold, now)
        fail(ips, ip, settings.ipFailureThreshold, now)
      }),
    recordSuccess: (handle: string) => Effect.sync(() => void handles.delete(handle.toLowerCase()))
  }
}

export class LoginThrottle extends Context.Tag("cynode/user-gateway/LoginThrottle")<
  LoginThrottle,
  ReturnType<typeof makeThrottle>
>() {
  static readonly Live = Layer.effect(LoginThrottle, Effect.map(GatewayConfig, makeThrottle))
}
