import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"
import { isIP } from "node:net"

/** Auth events into `auth_audit_log` (user-gateway.md §3 "Audit"). Never fails a request; never carries secrets. */

export type AuditEventType =
  | "login_success"
  | "login_failure"
  | "refresh_success"
  | "refresh_failure"
  | "logout"
  | "session_revoked"
  | "user_created"
  | "user_disabled"
  | "user_reenabled"

export interface AuditEvent {
  readonly event_type: AuditEventType
  readonly success: boolean
  readonly user_id?: string | undefined
  readonly subject_handle?: string | undefined
  readonly ip?: string | undefined
  readonly user_agent?: string | undefined
  readonly reason?: string | undefined
}

export class Audit extends Context.Tag("cynode/user-gateway/Audit")<Audit, {
  readonly record: (event: AuditEvent) => Effect.Effect<void>
}>() {
  static readonly Live = Layer.effect(
    Audit,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return {
        record: (event) =>
          sql`
            INSERT INTO auth_audit_log (event_type, user_id, subject_handle, success, ip_address, user_agent, reason)
            VALUES (${event.event_type}, ${event.user_id ?? null}, ${event.subject_handle?.slice(0, 128) ?? null},
              ${event.success}, ${event.ip !== undefined && isIP(event.ip) !== 0 ? event.ip : null}::inet,
              ${event.user_agent ?? null}, ${event.reason ?? null})`.pipe(
            Effect.zipRight(
              Effect.logInfo("auth event").pipe(
                Effect.annotateLogs({ event_type: event.event_type, success: event.success, reason: event.reason ?? "" })
              )
            ),
            Effect.catchAllCause((cause) =>
              Effect.logWarning("audit write failed", cause).pipe(Effect.annotateLogs("event_type", event.event_type))
            ),
            Effect.withSpan("Audit.record")
          )
      }
    })
  )
}
