import { Config, Effect, Layer, Redacted } from "effect"
import { Passwords } from "../../layers/Passwords.ts"
import { makeUsersRepo } from "./UsersRepo.ts"

/**
 * Bootstrap the first admin (user-gateway.md §3 "Bootstrap"): when user `admin` is absent, insert it, active, with an
 * Argon2id credential for `BOOTSTRAP_ADMIN_PASSWORD`. Conflict-ignored, because the gateway and the control plane
 * both run it at start. The documented default `admin123` is for local use only and is announced loudly.
 */
export const ADMIN_HANDLE = "admin"
export const DEFAULT_ADMIN_PASSWORD = "admin123"

export const bootstrapAdmin = Effect.gen(function*() {
  const configured = yield* Config.option(Config.redacted("BOOTSTRAP_ADMIN_PASSWORD"))
  const password = configured._tag === "Some" && Redacted.value(configured.value) !== ""
    ? configured.value
    : Redacted.make(DEFAULT_ADMIN_PASSWORD)
  const usingDefault = Redacted.value(password) === DEFAULT_ADMIN_PASSWORD
  const users = yield* makeUsersRepo
  if (yield* users.exists(ADMIN_HANDLE)) {
    if (usingDefault) yield* Effect.logDebug("admin exists; BOOTSTRAP_ADMIN_PASSWORD not used")
    return
  }
  const passwords = yield* Passwords
  const created = yield* users.createIfAbsent(ADMIN_HANDLE, yield* passwords.hash(password))
  if (!created) return
  yield* Effect.logInfo("bootstrap admin created").pipe(Effect.annotateLogs("handle", ADMIN_HANDLE))
  if (usingDefault) {
    yield* Effect.logWarning(
      "SECURITY WARNING: the bootstrap admin uses the documented default password; set BOOTSTRAP_ADMIN_PASSWORD " +
        "and change it before exposing this service (local use only)"
    )
  }
}).pipe(Effect.withSpan("BootstrapAdmin.run"))

/** For `main.ts`: runs the bootstrap while the program's layers are built. */
export const BootstrapAdminLive = Layer.effectDiscard(bootstrapAdmin)
