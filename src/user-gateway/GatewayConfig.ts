import { Config, ConfigError, Context, Either, Layer } from "effect"
import { goDuration } from "../../layers/Config.ts"
import { parseListenAddress, type ListenAddress } from "../../layers/Http.ts"
import { parseGoDuration } from "../../schema/time.ts"
import { parseProxyEntry } from "./TrustedProxies.ts"

/** The gateway's environment (user-gateway.md §2), read once at start; a bad value names its variable. */
export interface GatewaySettings {
  readonly listen: ListenAddress
  readonly accessTtlMs: number
  readonly refreshTtlMs: number
  readonly rateLimitPerMinute: number
  readonly lockoutThreshold: number
  readonly lockoutWindowMs: number
  readonly lockoutDurationMs: number
  readonly ipFailureThreshold: number
  /** Proxies (addresses or CIDRs) whose `X-Forwarded-For` hops are believed; empty = the socket peer only. */
  readonly trustedProxies: ReadonlyArray<string>
  readonly maxBodyBytes: number
  /** How long a just-rotated refresh token gets the same answer again (AUTH_REFRESH_GRACE, 0 = never). */
  readonly refreshGraceMs: number
}

const MINUTES_15 = 15 * 60_000

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

/** `USER_GATEWAY_LISTEN_ADDR`, else `LISTEN_ADDR`, else `:12080`. */
const listen = Config.string("USER_GATEWAY_LISTEN_ADDR").pipe(
  Config.orElse(() => Config.string("LISTEN_ADDR")),
  Config.withDefault(":12080"),
  Config.mapOrFail((s) => {
    const addr = parseListenAddress(s)
    return addr === undefined
      ? Either.left(ConfigError.InvalidData([], `USER_GATEWAY_LISTEN_ADDR/LISTEN_ADDR must look like :12080 or 127.0.0.1:12080, got ${JSON.stringify(s)}`))
      : Either.right(addr)
  })
)

/**
 * `TRUSTED_PROXIES`: a comma-separated list of proxy addresses or CIDRs. `TRUST_PROXY_HEADERS=true` alone no longer
 * says which hops to believe, so it is refused at start rather than trusting whatever a client writes.
 */
const trustedProxies = Config.all({
  list: Config.string("TRUSTED_PROXIES").pipe(Config.withDefault("")),
  legacy: Config.boolean("TRUST_PROXY_HEADERS").pipe(Config.withDefault(false))
}).pipe(
  Config.mapOrFail(({ legacy, list }) => {
    const entries = list.split(",").map((e) => e.trim()).filter((e) => e !== "")
    const bad = entries.find((e) => parseProxyEntry(e) === undefined)
    if (bad !== undefined) {
      return Either.left(ConfigError.InvalidData([], `TRUSTED_PROXIES must list IP addresses or CIDRs, got ${JSON.stringify(bad)}`))
    }
    if (legacy && entries.length === 0) {
      return Either.left(ConfigError.InvalidData([], "TRUST_PROXY_HEADERS=true needs TRUSTED_PROXIES (the proxy addresses or CIDRs to believe)"))
    }
    return Either.right(entries)
  })
)

export const gatewaySettings: Config.Config<GatewaySettings> = Config.all({
  listen,
  accessTtlMs: goDuration("JWT_ACCESS_DURATION").pipe(Config.withDefault(MINUTES_15)),
  refreshTtlMs: goDuration("JWT_REFRESH_DURATION").pipe(Config.withDefault(168 * 3_600_000)),
  rateLimitPerMinute: positiveInt("RATE_LIMIT_PER_MINUTE", 60),
  lockoutThreshold: positiveInt("AUTH_LOCKOUT_THRESHOLD", 5),
  lockoutWindowMs: goDuration("AUTH_LOCKOUT_WINDOW").pipe(Config.withDefault(MINUTES_15)),
  lockoutDurationMs: goDuration("AUTH_LOCKOUT_DURATION").pipe(Config.withDefault(MINUTES_15)),
  ipFailureThreshold: positiveInt("AUTH_IP_FAILURE_THRESHOLD", 20),
  trustedProxies: trustedProxies,
  maxBodyBytes: positiveInt("MAX_REQUEST_BODY_MB", 10).pipe(Config.map((mb) => mb * 1024 * 1024)),
  refreshGraceMs: Config.string("AUTH_REFRESH_GRACE").pipe(
    Config.mapOrFail((s) => {
      const ms = s === "0" ? 0 : parseGoDuration(s)
      return ms === undefined || ms > 60_000
        ? Either.left(ConfigError.InvalidData([], `AUTH_REFRESH_GRACE must be a duration of at most 1m, got ${JSON.stringify(s)}`))
        : Either.right(ms)
    }),
    Config.withDefault(10_000)
  )
})

export class GatewayConfig extends Context.Tag("cynode/user-gateway/GatewayConfig")<GatewayConfig, GatewaySettings>() {
  static readonly Live = Layer.effect(GatewayConfig, gatewaySettings)
  static readonly make = (settings: GatewaySettings) => Layer.succeed(GatewayConfig, settings)
}
