import { Command, Options } from "@effect/cli"
import { HttpApiClient, HttpClient } from "@effect/platform"
import { Config, Effect, Option } from "effect"
import { ControlPlaneApi } from "../../api/control-plane.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { NotReady, Unreachable } from "./CliError.ts"
import { type HealthClient, probe } from "./Http.ts"
import { common, emit } from "./options.ts"
import { normalizeUrl, resolveGateway } from "./Session.ts"

/** `cynode status`: `/healthz` and `/readyz` of the user gateway and the control plane. */

export const DEFAULT_CONTROL_PLANE_URL = "http://localhost:12082"

const controlPlane = Options.text("control-plane").pipe(
  Options.withDescription(`control plane URL (default: CYNODE_CONTROL_PLANE_URL or ${DEFAULT_CONTROL_PLANE_URL})`),
  Options.optional
)

interface ServiceStatus {
  readonly name: string
  readonly url: string
  readonly healthy: boolean
  readonly ready: boolean
  /** Why it is not ready (the `/readyz` text) or cannot be reached. */
  readonly reason?: string
}

/** The `health` group of the service's own contract. */
const healthClient = (api: typeof GatewayApi | typeof ControlPlaneApi, baseUrl: string): Effect.Effect<HealthClient, never, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (httpClient) =>
    api === GatewayApi
      ? HttpApiClient.group(GatewayApi, { group: "health", httpClient, baseUrl })
      : HttpApiClient.group(ControlPlaneApi, { group: "health", httpClient, baseUrl }))

const check = (name: string, url: string, api: typeof GatewayApi | typeof ControlPlaneApi): Effect.Effect<ServiceStatus, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const health = yield* healthClient(api, url)
    const liveness = yield* probe(`${url}/healthz`, health.healthz())
    const readiness = yield* probe(`${url}/readyz`, health.readyz())
    const ready = readiness.status === 200
    return {
      name,
      url,
      healthy: liveness.status === 200,
      ready,
      ...(ready ? {} : { reason: readiness.body || `HTTP ${readiness.status}` })
    }
  }).pipe(
    Effect.catchAll((error) =>
      Effect.succeed<ServiceStatus>({ name, url, healthy: false, ready: false, reason: `unreachable: ${error.reason}` })
    )
  )

const render = (services: ReadonlyArray<ServiceStatus>) =>
  services
    .map((s) =>
      `${s.name.padEnd(14)} ${s.url.padEnd(28)} ${s.healthy ? "healthy" : "down   "}  ${s.ready ? "ready" : `not ready: ${s.reason ?? ""}`}`
    )
    .join("\n")

export const status = Command.make("status", { ...common, controlPlane }, ({ controlPlane, gateway, json }) =>
  Effect.gen(function*() {
    const gatewayUrl = yield* resolveGateway(gateway)
    const fromEnv = yield* Config.option(Config.nonEmptyString("CYNODE_CONTROL_PLANE_URL")).pipe(Effect.orDie)
    const controlPlaneUrl = yield* normalizeUrl(
      Option.getOrElse(Option.orElse(controlPlane, () => fromEnv), () => DEFAULT_CONTROL_PLANE_URL),
      "--control-plane"
    )
    const services = yield* Effect.all([check("user gateway", gatewayUrl, GatewayApi), check("control plane", controlPlaneUrl, ControlPlaneApi)], {
      concurrency: "unbounded"
    })
    yield* emit(json, { ready: services.every((s) => s.ready), services }, () => render(services))
    const down = services.filter((s) => !s.healthy)
    if (down.length > 0) return yield* new Unreachable({ url: down.map((s) => s.url).join(", "), reason: "not answering /healthz" })
    const notReady = services.filter((s) => !s.ready)
    if (notReady.length > 0) return yield* new NotReady({ services: notReady.map((s) => `${s.name} (${s.reason ?? ""})`) })
  })).pipe(Command.withDescription("health and readiness of the user gateway and the control plane"))
