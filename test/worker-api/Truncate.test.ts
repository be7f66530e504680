import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { capText, finishUtf8, incompleteTail, withNodeLine } from "../../src/worker-api/Truncate.ts"

/** UTF-8 truncation properties (worker-node.md §6 "Limits"). */

const encoder = new TextEncoder()
const bytesOf = (s: string) => encoder.encode(s)
const strict = new TextDecoder("utf-8", { fatal: true })
const isValidUtf8 = (b: Uint8Array) => {
  try {
    strict.decode(b)
    return true
  } catch {
    return false
  }
}

/** What the collector keeps: the first `cap` bytes, and whether anything was dropped. */
const collect = (output: Uint8Array, cap: number) => finishUtf8(output.subarray(0, cap), cap, output.length > cap)

const text = fc.string({ unit: "grapheme", maxLength: 200 })
const bytes = fc.uint8Array({ maxLength: 600 })
const cap = fc.integer({ min: 0, max: 300 })

describe("Truncate", () => {
  it.prop("never exceeds the cap", [bytes, cap], ([output, limit]) => {
    expect(bytesOf(collect(output, limit).text).length).toBeLessThanOrEqual(limit)
  })

  it.prop("never splits a sequence: valid output yields a prefix ending on a code point", [text, cap], ([s, limit]) => {
    const output = bytesOf(s)
    const kept = bytesOf(collect(output, limit).text)
    expect(isValidUtf8(kept)).toBe(true)
    expect(Buffer.from(output.subarray(0, kept.length)).equals(Buffer.from(kept))).toBe(true)
    // At most one code point (≤ 3 bytes of it) was given up beyond the cap.
    expect(Math.min(limit, output.length) - kept.length).toBeLessThanOrEqual(3)
  })

  it.prop("valid output under the cap is byte-exact and not flagged", [text], ([s]) => {
    const output = bytesOf(s)
    const result = collect(output, output.length + 10)
    expect(Buffer.from(bytesOf(result.text)).equals(Buffer.from(output))).toBe(true)
    expect(result.truncated).toBe(false)
  })

  it.prop("is flagged iff bytes were dropped (valid output)", [text, cap], ([s, limit]) => {
    const output = bytesOf(s)
    const result = collect(output, limit)
    expect(result.truncated).toBe(bytesOf(result.text).length < output.length)
  })

  it.prop("invalid bytes become U+FFFD and still fit the cap, flagged when cut", [bytes, cap], ([output, limit]) => {
    const result = collect(output, limit)
    const size = bytesOf(result.text).length
    expect(size).toBeLessThanOrEqual(limit)
    if (output.length > limit) expect(result.truncated).toBe(true)
    if (!result.truncated) expect(result.text).toBe(new TextDecoder().decode(output))
  })

  it.prop("capText caps a string like sandbox output", [text, cap], ([s, limit]) => {
    const result = capText(s, limit)
    expect(bytesOf(result.text).length).toBeLessThanOrEqual(limit)
    expect(s.startsWith(result.text)).toBe(true)
    expect(result.truncated).toBe(result.text !== s)
  })

  it.prop("a node line always survives within the cap", [text, fc.integer({ min: 60, max: 300 })], ([s, limit]) => {
    const line = "cynode-worker: job canceled"
    const result = withNodeLine(capText(s, limit), line, limit)
    expect(bytesOf(result.text).length).toBeLessThanOrEqual(limit)
    expect(result.text.endsWith(`${line}\n`)).toBe(true)
  })

  it("drops only an incomplete trailing sequence", () => {
    const euro = bytesOf("a€") // 61 e2 82 ac
    expect(incompleteTail(euro.subarray(0, 3))).toBe(2)
    expect(incompleteTail(euro)).toBe(0)
    expect(collect(bytesOf("a€b"), 3)).toEqual({ text: "a", truncated: true })
    expect(collect(bytesOf("€"), 3)).toEqual({ text: "€", truncated: false })
    // Replacement characters growing past the cap are re-cut at a code point.
    expect(collect(new Uint8Array([0xff, 0xff, 0xff]), 3)).toEqual({ text: "\uFFFD", truncated: true })
  })
})
