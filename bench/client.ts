/**
 * The few gateway calls the bench makes, over plain HTTP as any client would (user-gateway.md §3, §4): log in,
 * submit an `echo hello` sandbox task, and wait for its result with `GET /v1/tasks/{id}/result?wait=N`.
 */

export interface Session {
  readonly gatewayUrl: string
  readonly accessToken: string
}

export interface TaskTiming {
  readonly taskId: string
  /** Submit (before POST /v1/tasks) → result received, ms. */
  readonly totalMs: number
  /** The POST /v1/tasks round trip, ms. */
  readonly submitMs: number
  /** Wall-clock instants (epoch ms) for the per-step breakdown; NaN when the gateway did not report them. */
  readonly submittedAt: number
  readonly jobStartedAt: number
  readonly jobEndedAt: number
  readonly workerStartedAt: number
  readonly workerEndedAt: number
  readonly receivedAt: number
}

const json = async (response: Response, expect: number, what: string): Promise<unknown> => {
  const text = await response.text()
  if (response.status !== expect) throw new Error(`${what}: HTTP ${response.status} ${text.slice(0, 500)}`)
  return JSON.parse(text) as unknown
}

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && key in value ? (value as Record<string, unknown>)[key] : undefined

const instant = (value: unknown) => (typeof value === "string" ? Date.parse(value) : Number.NaN)

export const login = async (gatewayUrl: string, handle: string, password: string): Promise<Session> => {
  const response = await fetch(`${gatewayUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ handle, password })
  })
  const body = await json(response, 200, "login")
  const token = field(body, "access_token")
  if (typeof token !== "string") throw new Error("login: no access_token in the answer")
  return { gatewayUrl, accessToken: token }
}

const auth = (session: Session) => ({ authorization: `Bearer ${session.accessToken}` })

export const SANDBOX_COMMAND = "echo hello"

/** Submits `echo hello` as a commands task; returns its id. */
export const submitEcho = async (session: Session): Promise<string> => {
  const response = await fetch(`${session.gatewayUrl}/v1/tasks`, {
    method: "POST",
    headers: { ...auth(session), "content-type": "application/json" },
    body: JSON.stringify({ prompt: SANDBOX_COMMAND, input_mode: "commands" })
  })
  const id = field(await json(response, 201, "POST /v1/tasks"), "id")
  if (typeof id !== "string") throw new Error("POST /v1/tasks: no id in the answer")
  return id
}

/** Waits (server side, long poll) for the task's result and checks it is `completed` with `hello\n`. */
export const awaitEcho = async (session: Session, taskId: string) => {
  for (;;) {
    const response = await fetch(`${session.gatewayUrl}/v1/tasks/${taskId}/result?wait=30`, { headers: auth(session) })
    const body = await json(response, 200, "GET /v1/tasks/{id}/result")
    const status = field(body, "status")
    if (status === "queued" || status === "running") continue
    const jobs = field(body, "jobs")
    const job: unknown = Array.isArray(jobs) ? jobs[0] : undefined
    const raw = field(job, "result")
    const inner: unknown = typeof raw === "string" ? JSON.parse(raw) : undefined
    if (status !== "completed" || field(inner, "stdout") !== "hello\n") {
      throw new Error(`task ${taskId} ended ${String(status)}: ${String(raw).slice(0, 500)}`)
    }
    return {
      jobStartedAt: instant(field(job, "started_at")),
      jobEndedAt: instant(field(job, "ended_at")),
      workerStartedAt: instant(field(inner, "started_at")),
      workerEndedAt: instant(field(inner, "ended_at"))
    }
  }
}

/** One `echo hello` task through the gateway, submit → result. */
export const runEcho = async (session: Session): Promise<TaskTiming> => {
  const submittedAt = Date.now()
  const t0 = performance.now()
  const id = await submitEcho(session)
  const submitMs = performance.now() - t0
  const instants = await awaitEcho(session, id)
  return { taskId: id, totalMs: performance.now() - t0, submitMs, submittedAt, receivedAt: Date.now(), ...instants }
}

/** GET helpers for the load figure. */
export const taskUrls = (session: Session, taskId: string) => ({
  task: `${session.gatewayUrl}/v1/tasks/${taskId}`,
  result: `${session.gatewayUrl}/v1/tasks/${taskId}/result`
})
