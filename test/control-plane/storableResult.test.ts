import { expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, FastCheck as fc } from "effect"
import { resultSummary } from "../../src/control-plane/DispatchRules.ts"
import { storableJson, storableText } from "../../schema/result.ts"
import * as TestDatabase from "../support/testDatabase.ts"

/**
 * A sandbox may print NUL or bytes that decode to lone surrogates, a model may answer them: PostgreSQL's jsonb and
 * text refuse both, which once left such a job unable to finish. Every result is stored, each refused character as
 * U+FFFD.
 */

const anyText = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom("\u0000", "\ud800", "\udc00", "a", "é", "🙂", "\n") }))

it.layer(TestDatabase.layer, { timeout: 60_000 })("results PostgreSQL can store", (it) => {
  it.effect.prop(
    "jsonb takes every result, each refused character replaced by U+FFFD",
    { stdout: anyText, stderr: anyText },
    ({ stdout, stderr }) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const result = { version: 1, status: "completed", stdout, stderr, exit_code: 0 }
        const [row] = yield* sql<{ value: unknown; summary: string }>`
          SELECT ${storableJson(result)}::jsonb AS value, ${resultSummary(result, "completed")}::text AS summary`
        expect(row!.value).toEqual({ ...result, stdout: storableText(stdout), stderr: storableText(stderr) })
        expect(storableText(row!.summary)).toBe(row!.summary)
      }),
    { fastCheck: { numRuns: 200 } }
  )

  it("storableText keeps valid text as it is and replaces only NUL and lone surrogates", () => {
    expect(storableText("a\u0000b\ud800c🙂é")).toBe("a\uFFFDb\uFFFDc🙂é")
    expect(storableText("plain\ntext")).toBe("plain\ntext")
  })
})
