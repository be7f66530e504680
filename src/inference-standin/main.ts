import { parseOllamaHost } from "./Address.ts"
import { parseStandinModels } from "./Models.ts"
import { STANDIN_VERSION } from "./Router.ts"
import { startStandin } from "./server.ts"

/** Entry point of the inference stand-in image: env → listening server; SIGTERM/SIGINT stop it with exit 0. */

const listenOn = parseOllamaHost(process.env["OLLAMA_HOST"])
if (listenOn === undefined) {
  process.stderr.write(`${JSON.stringify({ level: "error", message: "OLLAMA_HOST is not host:port", value: process.env["OLLAMA_HOST"] })}\n`)
  process.exit(2)
}
const models = parseStandinModels(process.env["STANDIN_MODELS"])

const running = await startStandin({ ...listenOn, models })
process.stdout.write(
  `${JSON.stringify({ time: new Date().toISOString(), level: "info", message: "listening", version: STANDIN_VERSION, host: running.host, port: running.port, models })}\n`
)

// As PID 1 in a container, node has no default signal handling: stop explicitly.
const stop = (): void => void running.close().then(() => process.exit(0))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
