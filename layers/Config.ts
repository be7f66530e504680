import { Config, ConfigError, Either, Redacted } from "effect"
import { parseGoDuration } from "../schema/time.ts"
import { isHttpUrl } from "../schema/url.ts"
import { parseListenAddress, type ListenAddress } from "./Http.ts"

/** Config helpers shared by every program: Go-style durations, listen addresses, secrets with a minimum length. */

/** A Go-style duration (`15m`, `24h`, `30s`) as milliseconds. */
export const goDuration = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      const ms = parseGoDuration(s)
      return ms === undefined
        ? Either.left(ConfigError.InvalidData([], `${name} must be a duration like 30s, 15m or 24h, got ${JSON.stringify(s)}`))
        : Either.right(ms)
    })
  )

/** A listen address such as `:12082` or `127.0.0.1:0`. */
export const listenAddress = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      const addr = parseListenAddress(s)
      return addr === undefined
        ? Either.left(ConfigError.InvalidData([], `${name} must look like :12082 or 127.0.0.1:12082, got ${JSON.stringify(s)}`))
        : Either.right<ListenAddress>(addr)
    })
  )

/** A secret that must be at least `minBytes` long (UTF-8); kept `Redacted` so it never reaches a log line. */
export const secret = (name: string, minBytes: number) =>
  Config.redacted(name).pipe(
    Config.mapOrFail((value) =>
      Buffer.byteLength(Redacted.value(value), "utf8") >= minBytes
        ? Either.right(value)
        : Either.left(ConfigError.InvalidData([], `${name} must be at least ${minBytes} bytes long`))
    )
  )

/** An absolute http(s) URL with a host, without a trailing slash. */
export const baseUrl = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      if (isHttpUrl(s)) return Either.right(s.replace(/\/+$/, ""))
      return Either.left(ConfigError.InvalidData([], `${name} must be an absolute http(s) URL, got ${JSON.stringify(s)}`))
    })
  )
