import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { isAdminHandle } from "../../layers/BootstrapAdmin.ts"
import { Jwt } from "../../layers/Jwt.ts"
import { Uuid } from "../../schema/ids.ts"
import { Forbidden, Unauthorized } from "../../schema/problem.ts"
import { OperatorAuth } from "../../api/control-plane.ts"
import { OperatorsRepo } from "./OperatorsRepo.ts"

/**
 * Operator authentication for `GET /v1/nodes`: the gateway's user access JWT (same `JWT_SECRET`), whose session
 * must still be active (a revoked session's access token is refused everywhere, DECISIONS.md), for handle `admin`.
 */

const isUuid = Schema.is(Uuid)
const invalid = new Unauthorized({ detail: "Invalid or expired token" })

export const OperatorAuthLive = Layer.effect(
  OperatorAuth,
  Effect.gen(function*() {
    const jwt = yield* Jwt
    const repo = yield* OperatorsRepo
    return OperatorAuth.of({
      accessToken: (token) =>
        Effect.gen(function*() {
          const raw = Redacted.value(token).trim()
          if (raw === "") return yield* new Unauthorized({ detail: "Missing authorization header" })
          const claims = yield* jwt.verify(raw, { tokenType: "access" }).pipe(Effect.mapError(() => invalid))
          const { sid, sub } = claims
          if (typeof sid !== "string" || !isUuid(sid) || typeof sub !== "string" || !isUuid(sub)) {
            return yield* invalid
          }
          const user = yield* repo.activeSessionUser(sid, sub)
          if (Option.isNone(user)) return yield* invalid
          if (!isAdminHandle(user.value.handle)) return yield* new Forbidden({ detail: "admin only" })
          return user.value
        }).pipe(Effect.withSpan("OperatorAuth.accessToken"))
    })
  })
)
