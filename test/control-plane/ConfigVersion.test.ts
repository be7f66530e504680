import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { createHash } from "node:crypto"
import { canonicalJson, nextConfigVersion, sha256Hash } from "../../src/control-plane/ConfigVersion.ts"

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/

describe("ConfigVersion", () => {
  it("canonical JSON sorts keys at every depth", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}')
    expect(sha256Hash({ b: 1, a: 2 })).toBe(`sha256:${createHash("sha256").update('{"a":2,"b":1}').digest("hex")}`)
  })

  it.prop("the hash does not depend on key order", { value: fc.dictionary(fc.string(), fc.jsonValue()) }, ({ value }) => {
    const reversed = Object.fromEntries(Object.entries(value).reverse())
    expect(sha256Hash(reversed)).toBe(sha256Hash(value))
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)))
  })

  it("mints a ULID when nothing was issued", () => {
    expect(nextConfigVersion(null)).toMatch(ULID)
  })

  it.prop(
    "a new version always sorts after the last one, even when the clock goes backwards",
    { now: fc.integer({ min: 0, max: 2 ** 40 }), lastAt: fc.integer({ min: 0, max: 2 ** 40 }) },
    ({ now, lastAt }) => {
      const last = nextConfigVersion(null, lastAt)
      const next = nextConfigVersion(last, now)
      expect(next).toMatch(ULID)
      expect(next > last).toBe(true)
      expect(nextConfigVersion(next, now) > next).toBe(true)
    }
  )
})
