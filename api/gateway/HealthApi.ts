import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"

/** `GET /healthz` (always `ok`) and `GET /readyz` (`ready`, else 503 with a plain-text reason); both open. */
export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(HttpApiSchema.Text()))
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(HttpApiSchema.Text())
      .addError(HttpApiSchema.Text(), { status: 503 })
  )
{}
