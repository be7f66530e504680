import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort, repoRoot } from "./programs.ts"

/**
 * The whole system started the way a user starts it: `scripts/up.ts` (what `just up` runs) as a child process, on
 * free ports, in a temporary state directory, with its embedded PostgreSQL. Used by the e2e suite and the bench;
 * each adds only its own settings (`env`) and preloads.
 */

export interface UpSystem {
  readonly child: ChildProcess
  readonly stateDir: string
  readonly nodeSlug: string
  readonly adminPassword: string
  readonly gatewayUrl: string
  readonly controlPlaneUrl: string
  /** Everything up.ts printed so far (its children's log lines, prefixed). */
  readonly output: () => string
  /** Resolves with the exit code, or the signal name. */
  readonly exited: Promise<string>
  /** Milliseconds from spawning up.ts to "CyNode is up". */
  readonly readyMs: number
  /** up.ts's own pid and the programs it started, from its run.json. */
  readonly run: { readonly pid: number; readonly children: ReadonlyArray<{ readonly name: string; readonly pid: number }> }
}

export interface UpOptions {
  /** Prefix of the temporary state directory and of the node slug. */
  readonly prefix: string
  /** Extra environment (secrets, limits, profiling). */
  readonly env?: Record<string, string>
  /** Extra `--import` preloads for up.ts itself. */
  readonly preloads?: ReadonlyArray<string>
  /** Variables passed through from this process when set. */
  readonly passThrough?: ReadonlyArray<string>
  readonly readyTimeoutMs?: number
  /** Another run on an earlier run's state (its database, secrets file and node state), with its slug and password. */
  readonly reuse?: { readonly stateDir: string; readonly nodeSlug: string; readonly adminPassword: string }
  /** Command-line flags for up.ts (`--exit-on-failure`, …). */
  readonly args?: ReadonlyArray<string>
}

export const startUpSystem = async (options: UpOptions): Promise<UpSystem> => {
  // The embedded PostgreSQL runs as `postgres` when we are root, so the state directory must be traversable.
  const stateDir = options.reuse?.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `cynode-${options.prefix}-`))
  fs.chmodSync(stateDir, 0o755)
  const [gatewayPort, controlPlanePort, workerPort, inferencePort, postgresPort] = await Promise.all(
    Array.from({ length: 5 }, () => freePort())
  )
  const nodeSlug = options.reuse?.nodeSlug ?? `${options.prefix}-${randomBytes(4).toString("hex")}`
  const adminPassword = options.reuse?.adminPassword ?? `${options.prefix}-${randomBytes(12).toString("base64url")}`
  const passThrough = ["CYNODE_CONTAINER_SOCKET", "DOCKER_HOST", "XDG_RUNTIME_DIR", ...(options.passThrough ?? [])]
    .flatMap((name) => {
      const value = process.env[name]
      return value === undefined ? [] : [[name, value] as const]
    })
  const started = performance.now()
  const preloads = (options.preloads ?? []).flatMap((p) => ["--import", p])
  const child = spawn(process.execPath, ["--import", "tsx", ...preloads, "scripts/up.ts", ...(options.args ?? [])], {
    cwd: repoRoot,
    // Only what a user's shell would give it, plus the ports and directory chosen here.
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
      ...options.env
    },
    stdio: ["pipe", "pipe", "pipe"]
  })
  const chunks: Array<string> = []
  child.stdout?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  child.stderr?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  const output = () => chunks.join("")
  let gone: string | undefined
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => {
      gone = code === null ? String(signal) : String(code)
      resolve(gone)
    })
  )
  const readyTimeoutMs = options.readyTimeoutMs ?? 180_000
  const deadline = Date.now() + readyTimeoutMs
  while (!output().includes("CyNode is up")) {
    if (gone !== undefined) throw new Error(`scripts/up.ts exited (${gone}) before the system was ready:\n${output().slice(-6000)}`)
    if (Date.now() > deadline) {
      child.kill("SIGTERM")
      throw new Error(`the system was not ready within ${readyTimeoutMs / 1000} s:\n${output().slice(-6000)}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const readyMs = performance.now() - started
  const run = JSON.parse(fs.readFileSync(path.join(stateDir, "run.json"), "utf8")) as UpSystem["run"]
  return {
    child,
    stateDir,
    nodeSlug,
    adminPassword,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    controlPlaneUrl: `http://127.0.0.1:${controlPlanePort}`,
    output,
    exited,
    readyMs,
    run
  }
}

/** Ctrl-C as a terminal sends it (SIGINT); resolves with up.ts's exit code, SIGKILLing it after `timeoutMs`. */
export const stopUpSystem = async (sys: UpSystem, timeoutMs: number): Promise<{ code: string; ms: number }> => {
  const started = Date.now()
  if (sys.child.exitCode === null && sys.child.signalCode === null) sys.child.kill("SIGINT")
  const timer = setTimeout(() => sys.child.kill("SIGKILL"), timeoutMs)
  const code = await sys.exited
  clearTimeout(timer)
  return { code, ms: Date.now() - started }
}
