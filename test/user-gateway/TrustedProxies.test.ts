import { describe, expect, it } from "@effect/vitest"
import { clientAddress, makeTrustedProxies, parseProxyEntry } from "../../src/user-gateway/TrustedProxies.ts"

describe("TrustedProxies", () => {
  const trusted = makeTrustedProxies(["10.0.0.0/8", "192.168.1.5", "fd00::/8"])

  it("takes the rightmost hop that is not a trusted proxy, never a client-written one", () => {
    // The client wrote "1.2.3.4"; the edge proxy appended the real peer 203.0.113.7; an inner proxy appended itself.
    expect(clientAddress("10.1.1.1", "1.2.3.4, 203.0.113.7, 10.2.2.2", trusted)).toBe("203.0.113.7")
    expect(clientAddress("::ffff:192.168.1.5", "203.0.113.9", trusted)).toBe("203.0.113.9")
    expect(clientAddress("fd00::1", "2001:db8::5", trusted)).toBe("2001:db8::5")
  })

  it("believes no header from a peer that is not a trusted proxy", () => {
    expect(clientAddress("203.0.113.50", "1.2.3.4", trusted)).toBe("203.0.113.50")
    expect(clientAddress("::ffff:198.51.100.1", "10.0.0.1", trusted)).toBe("198.51.100.1")
  })

  it("stops at a malformed hop and falls back to the last trusted proxy; all-trusted chains give the leftmost", () => {
    expect(clientAddress("10.1.1.1", "evil, 10.3.3.3", trusted)).toBe("10.3.3.3")
    expect(clientAddress("10.1.1.1", "", trusted)).toBe("10.1.1.1")
    expect(clientAddress("10.1.1.1", "10.9.9.9, 10.8.8.8", trusted)).toBe("10.9.9.9")
  })

  it("parses addresses and CIDRs only", () => {
    expect(parseProxyEntry("10.0.0.0/8")).toEqual({ address: "10.0.0.0", prefix: 8 })
    expect(parseProxyEntry("::1")).toEqual({ address: "::1" })
    for (const bad of ["10.0.0.0/33", "example.com", "10.0.0.1/8/2", "10.0.0.0/x"]) expect(parseProxyEntry(bad)).toBeUndefined()
  })
})
