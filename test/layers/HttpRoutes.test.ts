import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSecurity } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { makeRouteTable } from "../../layers/HttpRoutes.ts"

class Auth extends HttpApiMiddleware.Tag<Auth>()("test/Auth", { security: { bearer: HttpApiSecurity.bearer } }) {}

class Open extends HttpApiGroup.make("open").add(HttpApiEndpoint.get("healthz", "/healthz")) {}
class Closed extends HttpApiGroup.make("closed")
  .add(HttpApiEndpoint.post("run", "/v1/worker/jobs:run"))
  .add(HttpApiEndpoint.post("cancel", "/v1/worker/jobs/:job_id/cancel"))
  .middleware(Auth)
{}
class Api extends HttpApi.make("t").add(Open).add(Closed) {}

const table = makeRouteTable(Api, {
  publicRoutes: ["GET /healthz"],
  defaultMaxBodyBytes: 100,
  bodyLimits: { "POST /v1/worker/jobs:run": 10 },
  quietRoutes: ["GET /healthz"]
})

describe("HttpRoutes", () => {
  it("finds the protected route under every spelling the router accepts", () => {
    for (
      const url of [
        "/v1/worker/jobs:run",
        "/V1/WORKER/JOBS:RUN",
        "/v1/worker/job%73:run",
        "/v1/%77orker/jobs:run",
        "//v1//worker///jobs:run",
        "/v1/worker/jobs:run/",
        "http://evil.example/v1/worker/jobs:run",
        "https://x/v1/worker/jobs:run?x=1"
      ]
    ) {
      const rule = table.find("POST", url)
      expect(rule?.key, url).toBe("POST /v1/worker/jobs:run")
      expect(rule?.public).toBe(false)
      expect(rule?.maxBodyBytes).toBe(10)
    }
    expect(table.find("POST", "/V1/Worker/Jobs/abc/CANCEL")?.key).toBe("POST /v1/worker/jobs/:job_id/cancel")
    expect(table.find("HEAD", "/HEALTHZ")?.public).toBe(true)
    expect(table.find("POST", "/v1/worker/other")).toBeUndefined()
  })

  it("marks the routes called on a timer as quiet, and only those", () => {
    expect(table.find("GET", "/HealthZ")?.quiet).toBe(true)
    expect(table.find("POST", "/v1/worker/jobs:run")?.quiet).toBe(false)
    expect(() => makeRouteTable(Api, { publicRoutes: ["GET /healthz"], quietRoutes: ["POST /v1/heartbeat"], defaultMaxBodyBytes: 1 }))
      .toThrow(/does not declare/)
  })

  it("every program's quiet routes are routes of its API", async () => {
    const { ControlPlaneApi } = await import("../../api/control-plane.ts")
    const { controlPlaneRoutes } = await import("../../src/control-plane/ControlPlaneRoutes.ts")
    expect(makeRouteTable(ControlPlaneApi, controlPlaneRoutes).find("POST", "/v1/nodes/heartbeat")?.quiet).toBe(true)
  })

  it("refuses a route that has no credential check and is not documented as public", () => {
    class Leaky extends HttpApi.make("leaky").add(HttpApiGroup.make("g").add(HttpApiEndpoint.post("x", "/x"))) {}
    expect(() => makeRouteTable(Leaky, { publicRoutes: [], defaultMaxBodyBytes: 1 })).toThrow(/no credential check/)
    expect(() => makeRouteTable(Api, { publicRoutes: ["GET /healthz", "GET /nope"], defaultMaxBodyBytes: 1 })).toThrow(
      /does not declare/
    )
  })
})
