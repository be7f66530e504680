import { HttpServer } from "@effect/platform"
import { Config, Data, Effect, Layer, Redacted } from "effect"
import { readFile } from "node:fs/promises"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import type { ExitCoded } from "../../layers/ExitCode.ts"
import { runProgram } from "../../layers/Program.ts"
import { fromEnv } from "./Settings.ts"
import { layer as workerApi, WorkerState } from "./WorkerApi.ts"

/**
 * Standalone Worker API (tests, benchmarks): settings from the environment (worker-node.md §2), the bearer token
 * from the file named by CYNODE_WORKER_TOKEN_FILE (a path, never the token itself), marked ready as soon as it
 * listens. In a node, the node manager runs the same layer in-process instead.
 * Exit codes (§3), carried by the failures: 1 local config, 3 container runtime or mount root (RuntimeUnavailable,
 * WorkspaceError), 4 the listener (ListenFailed).
 */

class TokenFileError extends Data.TaggedError("TokenFileError")<{ readonly message: string }> {}

/** The HTTP listener would not start (the platform's ServeError, which names no exit code). */
class ListenFailed extends Data.TaggedError("ListenFailed")<{ readonly message: string; readonly cause: unknown }>
  implements ExitCoded
{
  get exitCode() {
    return 4
  }
}

const readToken = Effect.gen(function*() {
  const path = yield* Config.string("CYNODE_WORKER_TOKEN_FILE")
  const content = yield* Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) => new TokenFileError({ message: `CYNODE_WORKER_TOKEN_FILE ${path} cannot be read: ${String(e)}` })
  })
  const token = content.trim()
  if (token === "") return yield* Effect.fail(new TokenFileError({ message: `CYNODE_WORKER_TOKEN_FILE ${path} is empty` }))
  return Redacted.make(token)
})

const announce = Layer.effectDiscard(
  Effect.gen(function*() {
    const state = yield* WorkerState
    yield* state.markReady
    const address = yield* HttpServer.addressFormattedWith((a) => Effect.succeed(a))
    yield* Effect.logInfo("worker api listening").pipe(Effect.annotateLogs("address", address))
  })
)

const main = Effect.gen(function*() {
  const settings = yield* fromEnv
  const token = yield* readToken
  return yield* Layer.launch(
    announce.pipe(
      Layer.provideMerge(workerApi({ token: { token }, settings })),
      Layer.provide([ContainerRuntime.Live, HttpClientLayer.layer])
    )
  ).pipe(Effect.catchTag("ServeError", (e) => Effect.fail(new ListenFailed({ message: e.message, cause: e }))))
})

runProgram("worker-api", main)
