import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, ParseResult, Schema } from "effect"
import { Identifier } from "../../schema/ids.ts"
import { Timestamp } from "../../schema/time.ts"

const decode = Schema.decodeUnknownEither(Identifier)
const readable = (input: unknown) => {
  const result = decode(input)
  return Either.isLeft(result) ? ParseResult.TreeFormatter.formatErrorSync(result.left) : undefined
}

/** Strings an attacker would try as a task id, job id or node slug. */
const hostile = fc.oneof(
  fc.constantFrom("..", "../etc", "a/../b", "a/b", "/abs", "a\\b", "a..b", ".hidden", "-rf", "_x", "a b", "", "x".repeat(129)),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `${s}\u0000`),
  fc.string({ minLength: 0, maxLength: 10 }).map((s) => `a${s}/..`),
  fc.constantFrom("a\ud800", "\udfff", "caf\u00e9", "%2e%2e", "a\n", "a\t", "ünï"),
  fc.string({ minLength: 129, maxLength: 300 }).map((s) => `a${s}`)
)

describe("Identifier", () => {
  it.prop("accepts and round-trips every generated identifier", [Arbitrary.make(Identifier)], ([id]) => {
    const decoded = decode(id)
    expect(Either.isRight(decoded)).toBe(true)
    expect(Schema.encodeSync(Identifier)(id)).toBe(id)
  })

  it.prop("rejects hostile strings with a readable message", [hostile], ([input]) => {
    const message = readable(input)
    expect(message).toBeDefined()
    expect(message).toMatch(/letters, digits|Expected string/)
  })

  it("accepts the documented examples", () => {
    for (const ok of ["bdd-task", "node-01", "01JMBX3Q0N6Z8K2V5T7W9Y1A3C", "0d9a2c7e-1b7e-4c1e-9f1e-1c2d3e4f5a6b", "a.b_c-d"]) {
      expect(readable(ok)).toBeUndefined()
    }
    expect(readable("x".repeat(128))).toBeUndefined()
    expect(readable(42)).toContain("Expected string")
  })
})

describe("Timestamp", () => {
  it.prop("accepts generated UTC timestamps", [Arbitrary.make(Timestamp)], ([ts]) => {
    expect(Schema.is(Timestamp)(ts)).toBe(true)
  })

  it("rejects non-UTC and malformed timestamps", () => {
    for (const bad of ["2026-02-19T12:00:00+01:00", "2026-02-19 12:00:00Z", "2026-13-19T12:00:00Z", "yesterday", ""]) {
      expect(Schema.is(Timestamp)(bad)).toBe(false)
    }
  })
})
