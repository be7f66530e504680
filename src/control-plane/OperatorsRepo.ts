import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"

/** The one user-side query of the control plane: is this access token's session still live (for `GET /v1/nodes`)? */
export class OperatorsRepo extends Effect.Service<OperatorsRepo>()("cynode/OperatorsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const sessionUser = SqlSchema.findOne({
      Request: Schema.Struct({ sessionId: Schema.String, userId: Schema.String }),
      Result: Schema.Struct({ user_id: Schema.String, handle: Schema.String }).annotations({ identifier: "SessionUserRow" }),
      execute: ({ sessionId, userId }) =>
        sql`
          SELECT u.id::text AS user_id, u.handle
          FROM refresh_sessions s JOIN users u ON u.id = s.user_id
          WHERE s.id = ${sessionId} AND s.user_id = ${userId} AND s.is_active AND s.expires_at > now() AND u.is_active`
    })

    /** The active user owning an active, unexpired session `sid`. */
    const activeSessionUser = (sessionId: string, userId: string) =>
      sessionUser({ sessionId, userId }).pipe(Effect.orDie, Effect.withSpan("OperatorsRepo.activeSessionUser"))

    return { activeSessionUser }
  })
}) {}
