import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Schema } from "effect"
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

/** One `auth_audit_log` row's values; `ip` is null unless it parses as an address. */
const AuditInsert = Schema.Struct({
  event_type: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  subject_handle: Schema.NullOr(Schema.String),
  success: Schema.Boolean,
  ip: Schema.NullOr(Schema.String),
  user_agent: Schema.NullOr(Schema.String),
  reason: Schema.NullOr(Schema.String)
})

export class Audit extends Context.Tag("cynode/user-gateway/Audit")<Audit, {
  readonly record: (event: AuditEvent) => Effect.Effect<void>
}>() {
  static readonly Live = Layer.effect(
    Audit,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const insert = SqlSchema.void({
        Request: AuditInsert,
        execute: (row) =>
          sql`
            INSERT INTO auth_audit_log (event_type, user_id, subject_handle, success, ip_address, user_agent, reason)
            VALUES (${row.event_type}, ${row.user_id}, ${row.subject_handle}, ${row.success}, ${row.ip}::inet,
              ${row.user_agent}, ${row.reason})`
      })
      return {
        record: (event) =>
          insert({
            event_type: event.event_type,
            user_id: event.user_id ?? null,
            subject_handle: event.subject_handle?.slice(0, 128) ?? null,
            success: event.success,
            ip: event.ip !== undefined && isIP(event.ip) !== 0 ? event.ip : null,
            user_agent: event.user_agent ?? null,
            reason: event.reason ?? null
          }).pipe(
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
