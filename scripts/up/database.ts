import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Layer, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as Database from "../../layers/Database.ts"
import { loggingFor } from "../../layers/Logging.ts"

/**
 * `just up`'s database program: the one PostgreSQL every CyNode program shares (DECISIONS.md "One database for
 * `just up`"). With DATABASE_URL it uses that database; otherwise it starts the embedded PostgreSQL in
 * CYNODE_DATA_DIR on CYNODE_PG_PORT. It applies the migrations once, reports the URL to `up` on fd 3 (never on
 * stdout: it holds the password), and keeps the server running until SIGTERM, when it stops it.
 */

const report = Effect.gen(function*() {
  const { source, url } = yield* Database.DatabaseUrl
  yield* Effect.sync(() => {
    fs.writeSync(3, JSON.stringify({ url: Redacted.value(url), source }) + "\n")
    fs.closeSync(3)
  })
  yield* Effect.logInfo("database ready").pipe(Effect.annotateLogs("source", source))
})

const program = Layer.launch(Layer.effectDiscard(report).pipe(Layer.provide(Database.layer))).pipe(
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.logError(`database stopped: ${Option.match(Cause.failureOption(cause), {
        onNone: () => Cause.pretty(cause),
        onSome: (error) => (error instanceof Error ? error.message : String(error))
      })}`)),
  Effect.provide(loggingFor("database"))
)

NodeRuntime.runMain(program, { disablePrettyLogger: true, disableErrorReporting: true })
