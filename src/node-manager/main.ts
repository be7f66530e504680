import { runProgram } from "../../layers/Program.ts"
import { exitCodeFor, runNode, type ShutdownStatus } from "./Startup.ts"

/**
 * The node manager (worker-node.md): composition only. The startup pipeline, the in-process Worker API, the
 * inference container and the report loop live in Startup.ts; the exit code follows §3 (0 clean, 1 local config,
 * 2 orchestrator, 3 runtime or mount root, 4 Worker API, 5 inference, 6 containers failed to stop).
 */

const status: ShutdownStatus = { containersLeft: false }

runProgram("node-manager", runNode(status), { reportFailure: false, exitCode: (exit) => exitCodeFor(exit, status) })
