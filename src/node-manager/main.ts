import { Effect } from "effect"
import * as HttpClientLayer from "../../layers/HttpClient.ts"
import { runProgram } from "../../layers/Program.ts"
import { runNode, shutdownExitCode, type ShutdownStatus } from "./Startup.ts"

/**
 * The node manager (worker-node.md): composition only. The startup pipeline, the in-process Worker API, the
 * inference container and the report loop live in Startup.ts; the exit code follows §3 (0 clean, 1 local config,
 * 2 orchestrator, 3 runtime or mount root, 4 Worker API, 5 inference, 6 containers failed to stop).
 */

const status: ShutdownStatus = { containersLeft: false }

// One platform HttpClient (one connection pool) for the control plane and the inference server.
runProgram("node-manager", runNode(status).pipe(Effect.provide(HttpClientLayer.layer)), {
  reportFailure: false,
  cleanExitCode: () => shutdownExitCode(status)
})
