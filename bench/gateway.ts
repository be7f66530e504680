/**
 * Figure 4, the gateway under a bounded loopback load (autocannon, in this process, stopping after a fixed time):
 * requests/s and latency percentiles for `GET /v1/tasks/{id}` and `GET /v1/tasks/{id}/result` of a completed task,
 * with a fixed number of keep-alive connections; then login/s (`POST /v1/auth/login`, Argon2id-bound: reported, not
 * targeted). Each run is preceded by a 1 s warm-up. The load generator shares the machine's two cores with the
 * gateway and PostgreSQL, so beside the reads the same load is put on a floor: a bare `node:http` server in its
 * own process answering the very same JSON body with no work at all (what this machine, Node and this load
 * generator manage for a request that costs nothing).
 */
import autocannon from "autocannon"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { type Session, taskUrls } from "./client.ts"

export interface LoadResult {
  readonly connections: number
  readonly seconds: number
  readonly requests: number
  readonly requestsPerSecond: number
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number }
  readonly non2xx: number
  readonly errors: number
}

interface LoadOptions {
  readonly url: string
  readonly connections: number
  readonly seconds: number
  readonly headers: Record<string, string>
  readonly method?: "GET" | "POST"
  readonly body?: string
}

const load = async (options: LoadOptions): Promise<LoadResult> => {
  const base = {
    url: options.url,
    method: options.method ?? "GET",
    headers: options.headers,
    connections: options.connections,
    timeout: 10,
    ...(options.body !== undefined ? { body: options.body } : {})
  }
  await autocannon({ ...base, duration: 1 })
  const r = await autocannon({ ...base, duration: options.seconds })
  return {
    connections: options.connections,
    seconds: r.duration,
    requests: r.requests.total,
    requestsPerSecond: Math.round(r.requests.total / r.duration),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    non2xx: r.non2xx,
    errors: r.errors
  }
}

const FLOOR_SERVER = `
const http = require("node:http")
const body = Buffer.from(process.env.BODY)
const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length })
  res.end(body)
})
server.keepAliveTimeout = 60000
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
`

/** The bare server, in its own process like the gateway; resolves with its URL and a stop function. */
const startFloorServer = (body: string) =>
  new Promise<{ readonly url: string; readonly stop: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", FLOOR_SERVER], { env: { BODY: body }, stdio: ["ignore", "pipe", "inherit"] })
    child.once("exit", (code) => reject(new Error(`the floor server exited (${code})`)))
    child.stdout.once("data", (d: Buffer) => {
      child.removeAllListeners("exit")
      resolve({ url: `http://127.0.0.1:${d.toString("utf8").trim()}/`, stop: () => child.kill("SIGKILL") })
    })
  })

/** `onPhase` is told when each load starts, so the footprint sampler can label it. */
export const measureGateway = (
  session: Session,
  options: { readonly taskId: string; readonly handle: string; readonly password: string; readonly seconds: number; readonly connections: number },
  onPhase: (name: string) => void
) =>
  Effect.promise(async () => {
    const urls = taskUrls(session, options.taskId)
    const headers = { authorization: `Bearer ${session.accessToken}` }
    onPhase("gateway floor")
    const body = await (await fetch(urls.task, { headers })).text()
    const floorServer = await startFloorServer(body)
    const floor = await load({ url: floorServer.url, headers, connections: options.connections, seconds: options.seconds }).finally(floorServer.stop)
    onPhase("gateway GET task")
    const task = await load({ url: urls.task, headers, connections: options.connections, seconds: options.seconds })
    onPhase("gateway GET result")
    const result = await load({ url: urls.result, headers, connections: options.connections, seconds: options.seconds })
    onPhase("gateway login")
    const login = await load({
      url: `${session.gatewayUrl}/v1/auth/login`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ handle: options.handle, password: options.password }),
      connections: 2,
      seconds: Math.max(3, Math.round(options.seconds / 2))
    })
    const ratio = (l: LoadResult) => Math.round((l.requestsPerSecond / floor.requestsPerSecond) * 100) / 100
    return {
      task,
      result,
      login,
      floor,
      ratios: { taskToFloorRequestsPerSecond: ratio(task), resultToFloorRequestsPerSecond: ratio(result) },
      target: { requestsPerSecondAtLeast: 3000, p99MsBelow: 20 }
    }
  })

export type Gateway = Effect.Effect.Success<ReturnType<typeof measureGateway>>
