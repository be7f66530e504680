/**
 * The whole system for the bench, started the way a user starts it: `scripts/up.ts` (what `just up` runs) as a child
 * process, on free ports, in a temporary state directory, with its embedded PostgreSQL. Nothing is wired by hand;
 * the bench only chooses the ports, the secrets (so that it can start extra node managers for the startup figure)
 * and the gateway's login rate limit (so that login/s measures Argon2, not the throttle).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort, repoRoot } from "../test/support/programs.ts"

export interface Program {
  readonly name: string
  readonly pid: number
}

export interface BenchSystem {
  readonly gatewayUrl: string
  readonly controlPlaneUrl: string
  readonly adminPassword: string
  readonly psk: string
  readonly nodeSlug: string
  readonly stateDir: string
  /** The programs up.ts started (database, control-plane, user-gateway, node-manager), from its run.json. */
  readonly programs: ReadonlyArray<Program>
  /** Everything up.ts printed so far (its children's log lines, prefixed). */
  readonly output: () => string
  /** Milliseconds from spawning up.ts to "CyNode is up". */
  readonly readyMs: number
  readonly stop: () => Promise<void>
}

const READY_TIMEOUT_MS = 180_000

const waitFor = async (done: () => boolean, failed: () => string | undefined, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    const failure = failed()
    if (failure !== undefined) throw new Error(failure)
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const stopChild = async (child: ChildProcess, exited: Promise<unknown>, graceMs: number) => {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
  await exited
  clearTimeout(timer)
}

export const startSystem = async (): Promise<BenchSystem> => {
  // The embedded PostgreSQL runs as `postgres` when we are root, so the state directory must be traversable.
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-bench-"))
  fs.chmodSync(stateDir, 0o755)
  const [gatewayPort, controlPlanePort, workerPort, inferencePort, postgresPort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort())
  )
  const nodeSlug = `bench-${randomBytes(4).toString("hex")}`
  const adminPassword = randomBytes(12).toString("base64url")
  const psk = randomBytes(32).toString("base64url")
  // CYNODE_UP_FROM_SOURCE=1 measures the programs run through tsx instead of their bundles.
  const passThrough = ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR", "CYNODE_UP_FROM_SOURCE"].flatMap((name) =>
    process.env[name] === undefined ? [] : [[name, process.env[name]!] as const]
  )
  const profileDir = process.env.CYNODE_BENCH_CPU_PROF
  const started = performance.now()
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/up.ts"], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      ...Object.fromEntries(passThrough),
      CYNODE_UP_DIR: stateDir,
      CYNODE_GATEWAY_PORT: String(gatewayPort),
      CYNODE_CONTROL_PLANE_PORT: String(controlPlanePort),
      CYNODE_WORKER_PORT: String(workerPort),
      CYNODE_INFERENCE_PORT: String(inferencePort),
      CYNODE_PG_PORT: String(postgresPort),
      CYNODE_NODE_SLUG: nodeSlug,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      NODE_REGISTRATION_PSK: psk,
      // Login/s is meant to measure Argon2; the default 60 logins per minute per IP would measure the throttle.
      RATE_LIMIT_PER_MINUTE: "1000000",
      // Opt-in CPU profiles of every program (written when each one exits), to see where time goes.
      ...(profileDir !== undefined
        ? { CYNODE_BENCH_CPU_PROF: profileDir, NODE_OPTIONS: `--import ${path.join(repoRoot, "bench/cpuProfile.mjs")}` }
        : {})
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const chunks: Array<string> = []
  child.stdout?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  child.stderr?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  const output = () => chunks.join("")
  let exitCode: string | undefined
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exitCode = code === null ? String(signal) : String(code)
      resolve()
    })
  )
  const stop = async () => {
    await stopChild(child, exited, 90_000)
    fs.rmSync(stateDir, { recursive: true, force: true })
  }
  try {
    await waitFor(
      () => output().includes("CyNode is up"),
      () => (exitCode === undefined ? undefined : `scripts/up.ts exited (${exitCode}) before the system was ready:\n${output().slice(-6000)}`),
      READY_TIMEOUT_MS,
      "CyNode start"
    )
  } catch (error) {
    await stop()
    throw error
  }
  const readyMs = performance.now() - started
  const run = JSON.parse(fs.readFileSync(path.join(stateDir, "run.json"), "utf8")) as { children: Array<Program> }
  return {
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    controlPlaneUrl: `http://127.0.0.1:${controlPlanePort}`,
    adminPassword,
    psk,
    nodeSlug,
    stateDir,
    programs: run.children,
    output,
    readyMs,
    stop
  }
}
