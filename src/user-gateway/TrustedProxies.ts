import { BlockList, isIP } from "node:net"

/**
 * Trusted proxy hops (`TRUSTED_PROXIES`, addresses or CIDRs) and the client address behind them: the socket peer,
 * unless it is a trusted proxy; then `X-Forwarded-For` is walked from the right, past every trusted hop, and the
 * first hop that is not trusted is the client. Hops to the left of it were written by the client: never believed.
 */

/** `::ffff:10.0.0.1` is 10.0.0.1. */
export const normalize = (address: string) => address.trim().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1")

/** An address or CIDR of `TRUSTED_PROXIES`, or undefined when it is neither. */
export const parseProxyEntry = (entry: string): { readonly address: string; readonly prefix?: number } | undefined => {
  const [address = "", prefix, ...rest] = entry.trim().split("/")
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return undefined
  if (prefix === undefined) return { address }
  const bits = Number(prefix)
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128) ? { address, prefix: bits } : undefined
}

export const makeTrustedProxies = (entries: ReadonlyArray<string>): BlockList => {
  const list = new BlockList()
  for (const entry of entries) {
    const parsed = parseProxyEntry(entry)
    if (parsed === undefined) continue
    const type = isIP(parsed.address) === 4 ? "ipv4" : "ipv6"
    if (parsed.prefix === undefined) list.addAddress(parsed.address, type)
    else list.addSubnet(parsed.address, parsed.prefix, type)
  }
  return list
}

const isTrusted = (list: BlockList, address: string) => {
  const family = isIP(address)
  return family !== 0 && list.check(address, family === 4 ? "ipv4" : "ipv6")
}

/** The client's address: the rightmost hop that is not a trusted proxy (see above). */
export const clientAddress = (peer: string, forwardedFor: string | undefined, trusted: BlockList): string => {
  let client = normalize(peer)
  if (!isTrusted(trusted, client)) return client
  const hops = (forwardedFor ?? "").split(",").map(normalize).filter((hop) => hop !== "")
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] ?? ""
    // A malformed hop ends the walk: the last trusted proxy is the best that is known.
    if (isIP(hop) === 0) return client
    client = hop
    if (!isTrusted(trusted, hop)) return hop
  }
  return client
}

