import { HttpServerRequest } from "@effect/platform"
import { Effect, Option } from "effect"
import { isIP } from "node:net"
import { GatewayConfig } from "./GatewayConfig.ts"

/** Who is calling, for throttling and audit: the socket peer, or the proxy's header when `TRUST_PROXY_HEADERS`. */
export interface ClientInfo {
  readonly ip: string
  readonly userAgent: string | undefined
}

const firstForwarded = (header: string | undefined): string | undefined => {
  const first = header?.split(",")[0]?.trim()
  return first !== undefined && isIP(first) !== 0 ? first : undefined
}

export const clientInfo = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { trustProxyHeaders } = yield* GatewayConfig
  const peer = Option.getOrElse(request.remoteAddress, () => "unknown")
  const forwarded = trustProxyHeaders
    ? firstForwarded(request.headers["x-forwarded-for"]) ?? firstForwarded(request.headers["x-real-ip"])
    : undefined
  const userAgent = request.headers["user-agent"]
  return { ip: forwarded ?? peer, userAgent: userAgent?.slice(0, 512) } satisfies ClientInfo
})
