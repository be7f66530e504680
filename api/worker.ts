import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity } from "@effect/platform"
import { Schema } from "effect"
import { Identifier } from "../schema/ids.ts"
import {
  BadRequest,
  Conflict,
  Forbidden,
  ImageUnavailable,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
  TooManyRequests,
  Unauthorized,
  UnsupportedPayloadVersion
} from "../schema/problem.ts"
import { JobRecord, LeaseSeq, OutputParams, RunJobResponse } from "../schema/worker.ts"

/**
 * The Worker API contract (worker-node.md §6). The run payload is decoded by the handler rather than by HttpApi:
 * the documented check order puts the schema before the version and readiness checks, and an empty body must be
 * a 400, which HttpApi's own payload reading turns into a 500.
 */

const Text = HttpApiSchema.Text()
const jobIdParam = HttpApiSchema.param("job_id", Identifier)

/** `Authorization: Bearer <worker token>`, checked on the matched route before the handler reads the body. */
export class WorkerAuth extends HttpApiMiddleware.Tag<WorkerAuth>()("cynode/worker-api/WorkerAuth", {
  failure: Unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(Text))
  .add(HttpApiEndpoint.get("readyz", "/readyz").addSuccess(Text).addError(Text, { status: 503 }))
{}

/** Every jobs endpoint needs `Authorization: Bearer <token>` (WorkerAuth); the check runs before the body is read. */
export class JobsGroup extends HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.post("run")`/v1/worker/jobs:run`
      .addSuccess(RunJobResponse)
      .addError(BadRequest)
      .addError(UnsupportedPayloadVersion)
      .addError(Forbidden)
      .addError(Conflict)
      .addError(PayloadTooLarge)
      .addError(ImageUnavailable)
      .addError(TooManyRequests)
      .addError(ServiceUnavailable)
  )
  .add(
    HttpApiEndpoint.get("status")`/v1/worker/jobs/${jobIdParam}`
      // The asking dispatcher's lease: remembered, so a send under an older lease is refused afterwards.
      .setUrlParams(Schema.Struct({ lease_seq: Schema.optional(Schema.NumberFromString.pipe(Schema.compose(LeaseSeq))) }))
      .addSuccess(JobRecord)
      .addError(NotFound)
  )
  .add(
    // NDJSON of `OutputLine` (schema/worker.ts), streamed while the job runs; ends after `{"end":true}`.
    HttpApiEndpoint.get("output")`/v1/worker/jobs/${jobIdParam}/output`
      .setUrlParams(OutputParams)
      .addSuccess(HttpApiSchema.Text({ contentType: "application/x-ndjson" }))
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.post("cancel")`/v1/worker/jobs/${jobIdParam}/cancel`
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
  )
  .addError(Unauthorized)
  .middleware(WorkerAuth)
{}

export class WorkerApi extends HttpApi.make("worker-api").add(HealthGroup).add(JobsGroup) {}
