import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Unauthorized } from "../../schema/problem.ts"
import { ControlPlaneConfig } from "./ControlPlaneConfig.ts"
import { RegistrationPsk } from "../../api/control-plane.ts"

/**
 * The registration PSK check (control-plane.md §4), run before the body is decoded: constant-time comparison of
 * SHA-256 digests, so neither the content nor the length of the PSK leaks through timing.
 */

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

export const pskMatches = (expected: Redacted.Redacted<string>, given: string): boolean =>
  timingSafeEqual(digest(Redacted.value(expected)), digest(given))

export const RegistrationPskLive = Layer.effect(
  RegistrationPsk,
  Effect.gen(function*() {
    const { registrationPsk } = yield* ControlPlaneConfig
    return Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      // Malformed JSON was answered 400 already (layers/Http.ts); a body without a string `psk` fails decoding next.
      const body = yield* Effect.orElseSucceed(request.json, () => undefined)
      if (typeof body !== "object" || body === null || !("psk" in body) || typeof body.psk !== "string") return
      if (!pskMatches(registrationPsk, body.psk)) {
        yield* Effect.logWarning("node registration refused: wrong PSK")
        return yield* new Unauthorized({ detail: "Invalid registration PSK" })
      }
    }).pipe(Effect.withSpan("RegistrationPsk.check"))
  })
)
