import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import { bearerFrom, makeBearerCheck } from "../../src/worker-api/Auth.ts"

describe("bearer check", () => {
  const token = Redacted.make("worker-token-0123456789abcdef")
  const now = new Date("2026-03-01T10:00:00Z")

  it("accepts the token and refuses missing, wrong or expired ones", () => {
    const check = makeBearerCheck({ token })
    expect(check("Bearer worker-token-0123456789abcdef", now)).toEqual(Either.void)
    expect(check("bearer worker-token-0123456789abcdef", now)).toEqual(Either.void)
    expect(check(undefined, now)).toEqual(Either.left("missing bearer token"))
    expect(check("Basic abc", now)).toEqual(Either.left("missing bearer token"))
    expect(check("Bearer worker-token-0123456789abcdeX", now)).toEqual(Either.left("invalid bearer token"))
    expect(check("Bearer x", now)).toEqual(Either.left("invalid bearer token"))
    const expiring = makeBearerCheck({ token, expiresAt: new Date("2026-03-01T09:59:59Z") })
    expect(expiring("Bearer worker-token-0123456789abcdef", now)).toEqual(Either.left("bearer token expired"))
  })

  it("parses the Authorization header strictly", () => {
    expect(bearerFrom("Bearer a b")).toBeUndefined()
    expect(bearerFrom("Bearer ")).toBeUndefined()
    expect(bearerFrom("Bearer  tok")).toBe("tok")
  })

  it("never renders the token", () => {
    expect(String(token)).not.toContain("worker-token")
    expect(JSON.stringify({ token })).not.toContain("worker-token")
  })
})
