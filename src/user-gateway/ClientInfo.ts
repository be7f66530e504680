import { HttpServerRequest } from "@effect/platform"
import { Effect, Option } from "effect"
import type { BlockList } from "node:net"
import { GatewayConfig } from "./GatewayConfig.ts"
import { clientAddress, makeTrustedProxies, normalize } from "./TrustedProxies.ts"

/** Who is calling, for throttling and audit (the client address as TrustedProxies.ts decides it). */
export interface ClientInfo {
  readonly ip: string
  readonly userAgent: string | undefined
}

const listsBySettings = new WeakMap<ReadonlyArray<string>, BlockList>()

export const clientInfo = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { trustedProxies } = yield* GatewayConfig
  let trusted = listsBySettings.get(trustedProxies)
  if (trusted === undefined) {
    trusted = makeTrustedProxies(trustedProxies)
    listsBySettings.set(trustedProxies, trusted)
  }
  const peer = Option.getOrElse(request.remoteAddress, () => "unknown")
  const ip = trustedProxies.length === 0 ? normalize(peer) : clientAddress(peer, request.headers["x-forwarded-for"], trusted)
  const userAgent = request.headers["user-agent"]
  return { ip, userAgent: userAgent?.slice(0, 512) } satisfies ClientInfo
})
