import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { Readiness } from "../../layers/Readiness.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"

/** `/healthz` answers while the process serves; `/readyz` uses the one readiness definition (layers/Readiness.ts). */
export const HealthHttpLive = HttpApiBuilder.group(GatewayApi, "health", (handlers) =>
  handlers
    .handle("healthz", () => Effect.succeed("ok"))
    .handle("readyz", () =>
      Effect.flatMap(Readiness, (readiness) => readiness.check).pipe(
        Effect.flatMap((result) => (result.ready ? Effect.succeed("ready") : Effect.fail(result.reason)))
      )))
