import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
// The gateway reads the cluster state the control plane defines.
import { Readiness } from "../control-plane/Readiness.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"

/** `/healthz` answers while the process serves; `/readyz` uses the one readiness definition (src/control-plane/Readiness.ts). */
export const HealthHttpLive = HttpApiBuilder.group(GatewayApi, "health", (handlers) =>
  handlers
    .handle("healthz", () => Effect.succeed("ok"))
    .handle("readyz", () =>
      Effect.flatMap(Readiness, (readiness) => readiness.check).pipe(
        Effect.flatMap((result) => (result.ready ? Effect.succeed("ready") : Effect.fail(result.reason)))
      )))
