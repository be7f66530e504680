import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"

/** The one user-side query of the control plane: is this access token's session still live (for `GET /v1/nodes`)? */
export class OperatorsRepo extends Effect.Service<OperatorsRepo>()("cynode/OperatorsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** The active user owning an active, unexpired session `sid`. */
    const activeSessionUser = (sessionId: string, userId: string) =>
      sql<{ readonly user_id: string; readonly handle: string }>`
        SELECT u.id::text AS user_id, u.handle
        FROM refresh_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = ${sessionId} AND s.user_id = ${userId} AND s.is_active AND s.expires_at > now() AND u.is_active`
        .pipe(
          Effect.map((rows) => Option.fromNullable(rows[0])),
          Effect.orDie,
          Effect.withSpan("OperatorsRepo.activeSessionUser")
        )

    return { activeSessionUser }
  })
}) {}
