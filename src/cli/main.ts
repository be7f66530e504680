import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { runCli } from "./Cli.ts"

/** `cynode`: the command-line client (docs/cli.md). Runs with tsx; `bin/cynode.mjs` is the package bin. */

const program = runCli(process.argv.slice(2)).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, HttpClientLayer.layer))
)

Effect.runPromise(program).then(
  (code) => {
    process.exitCode = code
  },
  (defect: unknown) => {
    process.stderr.write(`error: internal: ${defect instanceof Error ? defect.stack ?? defect.message : String(defect)}\n`)
    process.exitCode = 1
  }
)
