import { createHash } from "node:crypto"
import { ulid } from "ulid"

/** Canonical JSON: object keys sorted at every depth, no whitespace; the input of every hash we store. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(",")}]`
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

/** `sha256:` + hex SHA-256 of the canonical JSON (control-plane.md §5). */
export const sha256Hash = (value: unknown): string =>
  `sha256:${createHash("sha256").update(canonicalJson(value), "utf8").digest("hex")}`

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** The next string in Crockford base32 order of the same length (a ULID plus one in its last places). */
const increment = (value: string): string => {
  const chars = value.split("")
  for (let i = chars.length - 1; i >= 0; i--) {
    const index = CROCKFORD.indexOf(chars[i] ?? "")
    if (index < CROCKFORD.length - 1) {
      chars[i] = CROCKFORD[index + 1] ?? "0"
      return chars.join("")
    }
    chars[i] = "0"
  }
  throw new Error("config version space exhausted")
}

const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/

/**
 * A fresh ULID that sorts after `last` (compared lexically): clocks step backwards and two versions may be minted
 * in one millisecond, so a candidate that is not greater is replaced by `last` bumped by one.
 */
export const nextConfigVersion = (last: string | null, now: number = Date.now()): string => {
  const candidate = ulid(now)
  if (last === null || !ULID_PATTERN.test(last) || candidate > last) return candidate
  return increment(last)
}
