import { spawn, type ChildProcess } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

/**
 * Starts CyNode programs as real child processes (`node --import tsx src/<program>/main.ts`) for integration and
 * BDD tests: captured logs, readiness wait, clean or brutal stops. Tests talk to them over HTTP like users do.
 */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

export type ProgramName = "control-plane" | "user-gateway" | "node-manager" | "worker-api" | "cli"

export interface RunningProgram {
  readonly name: ProgramName
  readonly pid: number
  readonly child: ChildProcess
  /** Everything the program wrote to stdout and stderr so far. */
  readonly output: () => string
  /** Resolves with the exit code (or null when killed by a signal). */
  readonly exited: Promise<number | null>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  readonly stop: (graceMs?: number) => Promise<number | null>
  /** `kill -9`, for crash tests. */
  readonly crash: () => Promise<number | null>
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/**
 * `prefix` runs the program through another command that execs it (`ip netns exec <ns>`), so the pid is still the
 * program's own.
 */
export const startProgram = (
  name: ProgramName,
  env: Record<string, string>,
  args: ReadonlyArray<string> = [],
  prefix: ReadonlyArray<string> = []
): RunningProgram => {
  const command = [...prefix, process.execPath, "--import", "tsx", `src/${name}/main.ts`, ...args]
  const child = spawn(command[0]!, command.slice(1), {
    cwd: repoRoot,
    // Only what the test passes plus what node needs: the programs must not depend on the caller's environment.
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CYNODE_LOG_LEVEL: "debug", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const chunks: Array<string> = []
  child.stdout?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  child.stderr?.on("data", (d: Buffer) => chunks.push(d.toString("utf8")))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  const crash = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    return exited
  }
  return { name, pid: child.pid ?? -1, child, output: () => chunks.join(""), exited, stop, crash }
}

/** Polls `url` until it answers `expectStatus` (default 200), the program exits, or `timeoutMs` passes. */
export const waitForHttp = async (
  program: RunningProgram,
  url: string,
  { timeoutMs = 30_000, expectStatus = 200 }: { timeoutMs?: number; expectStatus?: number } = {}
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void program.exited.then(() => {
    exited = true
  })
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${program.name} exited before ${url} answered:\n${program.output().slice(-4000)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      if (res.status === expectStatus) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer ${expectStatus} within ${timeoutMs} ms:\n${program.output().slice(-4000)}`)
}

export interface ServerOptions {
  /** Answers 200 once the program is ready; default `/healthz`. */
  readonly readyPath?: string
  readonly timeoutMs?: number
  /** Listen on this port (e.g. a restart at the same address); default a free one. */
  readonly port?: number
}

/**
 * Starts a server program listening on a free loopback port (`listenVar` set to it) and waits until `readyPath`
 * answers; a program that never gets ready is stopped. `env` gets the base URL (e.g. for a public URL setting).
 */
export const startServer = async (
  name: ProgramName,
  listenVar: string,
  env: (baseUrl: string) => Record<string, string>,
  { readyPath = "/healthz", timeoutMs, port: fixedPort }: ServerOptions = {}
): Promise<{ readonly program: RunningProgram; readonly baseUrl: string }> => {
  const port = fixedPort ?? await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const program = startProgram(name, { [listenVar]: `127.0.0.1:${port}`, ...env(baseUrl) })
  try {
    await waitForHttp(program, `${baseUrl}${readyPath}`, timeoutMs === undefined ? {} : { timeoutMs })
  } catch (error) {
    await program.stop()
    throw error
  }
  return { program, baseUrl }
}

/** Runs a program to completion (for CLIs and fail-fast startups) and returns its exit code and output. */
export const runProgram = async (
  name: ProgramName,
  env: Record<string, string>,
  args: ReadonlyArray<string> = [],
  timeoutMs = 60_000
): Promise<{ code: number | null; output: string }> => {
  const program = startProgram(name, env, args)
  const timer = setTimeout(() => program.child.kill("SIGKILL"), timeoutMs)
  const code = await program.exited
  clearTimeout(timer)
  return { code, output: program.output() }
}
