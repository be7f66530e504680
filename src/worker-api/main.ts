import { HttpServer } from "@effect/platform"
import { Cause, Config, Data, Effect, Exit, Layer, Option, Redacted } from "effect"
import { readFile } from "node:fs/promises"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { runProgram } from "../../layers/Program.ts"
import { fromEnv } from "./Settings.ts"
import { layer as workerApi, WorkerState } from "./WorkerApi.ts"

/**
 * Standalone Worker API (tests, benchmarks): settings from the environment (worker-node.md §2), the bearer token
 * from the file named by CYNODE_WORKER_TOKEN_FILE (a path, never the token itself), marked ready as soon as it
 * listens. In a node, the node manager runs the same layer in-process instead.
 * Exit codes (§3): 1 local config, 3 container runtime or mount root, 4 the listener.
 */

class TokenFileError extends Data.TaggedError("TokenFileError")<{ readonly message: string }> {}

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
  )
})

const exitCodeFor = (cause: Cause.Cause<unknown>): number => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return 1
  const tag = typeof failure.value === "object" && failure.value !== null && "_tag" in failure.value ? failure.value._tag : ""
  switch (tag) {
    case "RuntimeUnavailable":
    case "WorkspaceError":
      return 3
    case "ServeError":
      return 4
    default:
      return 1
  }
}

runProgram("worker-api", main, {
  exitCode: (exit) => (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause) ? 0 : exitCodeFor(exit.cause))
})
