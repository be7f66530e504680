import { After, AfterAll, Before } from "@cucumber/cucumber"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { networkInterfaces, tmpdir } from "node:os"
import { join } from "node:path"
import { ContainerRuntime } from "../../layers/ContainerRuntime.ts"
import { STANDIN_IMAGE } from "../../test/support/engine.ts"
import { freePort, startServer, type RunningProgram } from "../../test/support/programs.ts"

/**
 * The worker-API suite's world (tag @worker_api): the REAL worker-api program (one per test run, started on first
 * use), its token in a file, and the real container engine to check what is left behind. The node-local inference
 * server is the real stand-in image, started only by the scenarios that need it.
 */

const engineEnv = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const name of ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR", "CYNODE_PODMAN_SERVICE"]) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

export const runtime = ManagedRuntime.make(ContainerRuntime.Live.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))))

export interface WorkerUnderTest {
  readonly program: RunningProgram
  readonly baseUrl: string
  readonly token: string
  readonly nodeSlug: string
  readonly mountRoot: string
  /** Values the worker process holds that must never reach a sandbox. */
  readonly secrets: ReadonlyArray<string>
  readonly dir: string
  readonly inferenceUrl: string | undefined
  readonly standinContainer: string | undefined
}

let worker: Promise<WorkerUnderTest> | undefined

/** Starts the node-local inference stand-in on a free loopback port, like the node manager does. */
const startStandin = async (): Promise<{ readonly url: string; readonly id: string }> => {
  const port = await freePort()
  const id = await runtime.runPromise(
    Effect.gen(function*() {
      const rt = yield* ContainerRuntime
      const created = yield* rt.create({
        image: STANDIN_IMAGE,
        labels: { "io.cynode.role": "inference", "io.cynode.test": "worker-api-bdd" },
        networkMode: "bridge",
        publish: [{ containerPort: 11434, hostIp: "127.0.0.1", hostPort: port }]
      })
      yield* rt.start(created)
      return created
    })
  )
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/api/version`).then((r) => r.ok, () => false)
    if (ok) return { url, id }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error("the inference stand-in did not answer /api/version within 30 s")
}

const standinAvailable = () =>
  runtime.runPromise(Effect.flatMap(ContainerRuntime, (rt) => rt.ensureImage(STANDIN_IMAGE)).pipe(Effect.isSuccess))

const launch = async (): Promise<WorkerUnderTest> => {
  const dir = mkdtempSync(join(tmpdir(), "cynode-worker-bdd-"))
  const token = `wk-${randomBytes(24).toString("hex")}`
  const psk = `psk-${randomBytes(24).toString("hex")}`
  const tokenFile = join(dir, "token")
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  const mountRoot = join(dir, "mounts")
  mkdirSync(mountRoot, { mode: 0o700 })
  const nodeSlug = `bdd-node-${randomUUID().slice(0, 8)}`
  const standin = (await standinAvailable()) ? await startStandin() : undefined
  const { program, baseUrl } = await startServer(
    "worker-api",
    "CYNODE_WORKER_LISTEN_ADDR",
    () => ({
      ...engineEnv(),
      CYNODE_NODE_SLUG: nodeSlug,
      CYNODE_SANDBOX_MOUNT_ROOT: mountRoot,
      CYNODE_WORKER_TOKEN_FILE: tokenFile,
      // A secret the worker process holds: it must never reach a sandbox.
      CYNODE_NODE_REGISTRATION_PSK: psk,
      CYNODE_WORKER_MAX_REQUEST_BYTES: String(256 * 1024),
      // Small sandbox caps, so the security scenarios (features/security/sandbox.feature) can reach them.
      CYNODE_SANDBOX_CPUS: "0.5",
      CYNODE_SANDBOX_TMP_MB: "8",
      CYNODE_SANDBOX_WORKSPACE_MB: "16",
      ...(standin === undefined ? {} : { CYNODE_INFERENCE_URL: standin.url })
    }),
    { readyPath: "/readyz", timeoutMs: 60_000 }
  )
  return {
    program,
    baseUrl,
    token,
    nodeSlug,
    mountRoot,
    secrets: [token, psk, tokenFile],
    dir,
    inferenceUrl: standin?.url,
    standinContainer: standin?.id
  }
}

export const workerUnderTest = (): Promise<WorkerUnderTest> => (worker ??= launch())

/** Per-scenario state: the last answer and the scenario's unique id suffix. */
export interface WorkerScenario {
  readonly suffix: string
  taskId: string
  jobId: string
  status?: number
  headers?: Headers
  body?: Record<string, unknown>
  /** An earlier answer of the scenario, to compare with. */
  previous?: Record<string, unknown>
  /** Host TCP servers a sandbox must not reach, and the connections they saw. */
  listeners: Array<{ readonly server: Server; readonly port: number; connections: number }>
}

export let scenario: WorkerScenario = { suffix: "", taskId: "", jobId: "", listeners: [] }

Before({ tags: "@worker_api" }, function() {
  const suffix = randomUUID().slice(0, 8)
  scenario = { suffix, taskId: `bdd-task-${suffix}`, jobId: `bdd-job-${suffix}`, listeners: [] }
})

/** A host TCP server on all interfaces that counts the connections it accepts. */
export const hostListener = async () => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve))
  const address = server.address()
  const listener = { server, port: typeof address === "object" && address !== null ? address.port : 0, connections: 0 }
  server.on("connection", (socket) => {
    listener.connections++
    socket.end("hello from the host\n")
  })
  scenario.listeners.push(listener)
  return listener
}

After({ tags: "@worker_api" }, function() {
  for (const l of scenario.listeners) l.server.close()
})

/** The host's first non-loopback IPv4 address, if it has one. */
export const hostAddress = (): string | undefined =>
  Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address

AfterAll({ timeout: 60_000 }, async function() {
  if (worker === undefined) return
  const w = await worker.catch(() => undefined)
  worker = undefined
  if (w === undefined) return
  await w.program.stop()
  if (w.standinContainer !== undefined) {
    const id = w.standinContainer
    await runtime.runPromise(Effect.flatMap(ContainerRuntime, (rt) => rt.remove(id)).pipe(Effect.ignore))
  }
  rmSync(w.dir, { recursive: true, force: true })
  await runtime.dispose()
})
