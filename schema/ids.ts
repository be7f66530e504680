import { Schema } from "effect"

/**
 * The one identifier rule (DECISIONS.md "Identifiers"): task, job, node slug and every name that is
 * used as a path, container name or label. Checked while decoding, before any use.
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

const IDENTIFIER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."

export const Identifier = Schema.String.pipe(
  Schema.filter(
    (s) =>
      IDENTIFIER_PATTERN.test(s) && !s.includes("..")
        ? true
        : "must be 1-128 characters of letters, digits, '.', '_' or '-', start with a letter or digit, and not contain '..'",
    {
      arbitrary: () => (fc) =>
        fc.string({ unit: fc.constantFrom(...IDENTIFIER_CHARS), minLength: 1, maxLength: 40 })
          .map((s) => (/^[A-Za-z0-9]/.test(s) ? s : `n${s}`).replaceAll("..", ".x"))
    }
  ),
  Schema.brand("Identifier"),
  Schema.annotations({ identifier: "Identifier", title: "Identifier" })
)
export type Identifier = typeof Identifier.Type

export const isIdentifier = Schema.is(Identifier)

/** Canonical lower-case UUID, as PostgreSQL's gen_random_uuid() renders it. */
export const Uuid = Schema.UUID.pipe(Schema.annotations({ identifier: "Uuid" }))

/** A lone UTF-16 surrogate (from a `\ud800` JSON escape) has no UTF-8 form: PostgreSQL would refuse it with a 500. */
const hasLoneSurrogate = (s: string) => /\p{Surrogate}/u.test(s)

/** A string that must not carry NUL bytes (PostgreSQL text refuses them, and they smuggle paths) nor lone surrogates. */
export const SafeString = Schema.String.pipe(
  Schema.filter((s) => (s.includes("\u0000") ? "must not contain NUL characters" : true)),
  Schema.filter((s) => (hasLoneSurrogate(s) ? "must be valid Unicode (no lone surrogate)" : true)),
  Schema.annotations({ identifier: "SafeString" })
)

export const NonEmptySafeString = SafeString.pipe(Schema.minLength(1))

const utf8 = new TextEncoder()

/** UTF-8 length of a string (TextEncoder rather than Buffer, so these schemas also run in a browser). */
export const utf8Length = (s: string): number => utf8.encode(s).length
