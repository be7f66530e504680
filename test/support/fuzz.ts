import fc from "fast-check"
import { Agent, request } from "node:http"

/**
 * Request fuzzing of one POST endpoint of a running program: random and mutated bodies, content types, encodings,
 * spellings of the route, with and without the credential. Each answer must come within the timeout and be below
 * 500; a protected route asked without a credential must answer 401 whatever else the request holds.
 */

export interface FuzzEndpoint {
  /** `POST /v1/tasks`, for the report. */
  readonly name: string
  /** The path the request is sent to (its spellings are derived from it). */
  readonly target: string
  /** The credential (`Bearer …`) of a protected route; undefined for an open one. */
  readonly authorization?: string
  /** A body the endpoint accepts (or nearly), which mutations start from. */
  readonly validBody: unknown
}

export interface FuzzReport {
  readonly name: string
  readonly count: number
  readonly seed: number
  readonly statuses: Readonly<Record<string, number>>
  readonly failures: ReadonlyArray<string>
}

interface FuzzRequest {
  readonly target: string
  readonly body: Buffer | undefined
  readonly contentType: string | undefined
  readonly contentEncoding: string | undefined
  readonly withCredential: boolean
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "Application/JSON",
  "application/json; charset=utf-16",
  "application/problem+json",
  "text/plain",
  "multipart/form-data; boundary=xyz",
  "multipart/form-data",
  "application/x-www-form-urlencoded",
  "application/octet-stream",
  ""
]

const WEIRD_STRINGS = [
  "\ud800",
  "a\udc00b",
  "\u0000",
  "../../etc/passwd",
  "x".repeat(70_000),
  "😀".repeat(1000),
  "\r\n\r\n",
  "%00%2e%2e",
  "' OR 1=1 --",
  "${jndi:ldap://x}"
]

const jsonText = (value: unknown) => JSON.stringify(value) ?? "null"

/** A mutation of a valid body: a field dropped, retyped, made weird or added, or the whole value replaced. */
const mutated = (valid: unknown): fc.Arbitrary<string> => {
  const record = typeof valid === "object" && valid !== null && !Array.isArray(valid) ? valid as Record<string, unknown> : {}
  const keys = Object.keys(record)
  const key = keys.length === 0 ? fc.constant("x") : fc.constantFrom(...keys)
  return fc.oneof(
    key.map((k) => jsonText(Object.fromEntries(Object.entries(record).filter(([name]) => name !== k)))),
    fc.tuple(key, fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => jsonText({ ...record, [k]: v })),
    fc.tuple(key, fc.constantFrom(...WEIRD_STRINGS)).map(([k, v]) => jsonText({ ...record, [k]: v })),
    fc.tuple(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => jsonText({ ...record, [k]: v })),
    fc.integer({ min: 1, max: 5_000 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
    fc.integer({ min: 0, max: 40 }).map((cut) => jsonText(valid).slice(0, cut)),
    fc.constant(jsonText(valid)),
    // A JSON escape of a lone surrogate survives JSON.parse; PostgreSQL refuses it.
    key.map((k) => jsonText({ ...record, [k]: "PLACEHOLDER" }).replace('"PLACEHOLDER"', '"\\ud800x"'))
  )
}

const bodyArbitrary = (valid: unknown): fc.Arbitrary<Buffer | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: mutated(valid).map((text) => Buffer.from(text, "utf8")) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(jsonText(v), "utf8")) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 512 }).map((s) => Buffer.from(s, "utf8")) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) }
  )

/** Spellings the router matches to the same route. */
const targetArbitrary = (target: string): fc.Arbitrary<string> =>
  fc.constantFrom(
    target,
    target.toUpperCase(),
    target.replace(/\//g, "//"),
    `http://fuzz.example${target}`,
    `${target}?x=${encodeURIComponent("<>")}`
  )

const requestArbitrary = (endpoint: FuzzEndpoint): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    target: targetArbitrary(endpoint.target),
    body: bodyArbitrary(endpoint.validBody),
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constant("application/json") },
      { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      { weight: 1, arbitrary: fc.constant(undefined) }
    ),
    contentEncoding: fc.oneof(
      { weight: 8, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom("gzip", "br", "identity", "deflate, gzip") }
    ),
    withCredential: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })
  })

const send = (agent: Agent, baseUrl: URL, req: FuzzRequest, authorization: string | undefined, timeoutMs: number) =>
  new Promise<number>((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (req.contentType !== undefined) headers["content-type"] = req.contentType
    if (req.contentEncoding !== undefined) headers["content-encoding"] = req.contentEncoding
    if (req.body !== undefined) headers["content-length"] = String(req.body.length)
    if (req.withCredential && authorization !== undefined) headers.authorization = authorization
    const r = request(
      { agent, host: baseUrl.hostname, port: Number(baseUrl.port), method: "POST", path: req.target, headers, timeout: timeoutMs },
      (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
        res.on("error", reject)
      }
    )
    r.on("timeout", () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    r.on("error", reject)
    r.end(req.body)
  })

const describeRequest = (req: FuzzRequest) =>
  `POST ${req.target.slice(0, 80)} type=${JSON.stringify(req.contentType)} encoding=${JSON.stringify(req.contentEncoding)} ` +
  `credential=${req.withCredential} body=${JSON.stringify(req.body?.toString("utf8").slice(0, 120))}`

/** Sends `count` generated requests (from `seed`) to one endpoint, `concurrency` at a time. */
export const fuzzEndpoint = async (
  baseUrl: string,
  endpoint: FuzzEndpoint,
  { count, seed, concurrency = 8, timeoutMs = 15_000 }: {
    readonly count: number
    readonly seed: number
    readonly concurrency?: number
    readonly timeoutMs?: number
  }
): Promise<FuzzReport> => {
  const requests = fc.sample(requestArbitrary(endpoint), { numRuns: count, seed })
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const url = new URL(baseUrl)
  const statuses: Record<string, number> = {}
  const failures: Array<string> = []
  let next = 0
  const worker = async () => {
    while (next < requests.length) {
      const req = requests[next++]!
      const status = await send(agent, url, req, endpoint.authorization, timeoutMs).catch((error: unknown) =>
        error instanceof Error && /socket hang up|ECONNRESET|EPIPE/.test(error.message)
          // The server may close a connection on an oversized body: that is an answer, not a hang.
          ? -1
          : Promise.reject(error)
      ).catch((error: unknown) => {
        failures.push(`${describeRequest(req)}: ${error instanceof Error ? error.message : String(error)}`)
        return 0
      })
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1
      if (status >= 500) failures.push(`${describeRequest(req)}: answered ${status}`)
      if (endpoint.authorization !== undefined && !req.withCredential && status !== 401 && status !== -1) {
        failures.push(`${describeRequest(req)}: answered ${status} without a credential`)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  agent.destroy()
  return { name: endpoint.name, count, seed, statuses, failures }
}
