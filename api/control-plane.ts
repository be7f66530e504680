import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity } from "@effect/platform"
import { Context, Schema } from "effect"
import {
  NodeBootstrapPayload,
  NodeCapabilityReport,
  NodeConfigAck,
  NodeConfigurationPayload,
  NodeHeartbeatAnswer,
  RegisterRequest
} from "../schema/node.ts"
import {
  BadRequest,
  Conflict,
  Forbidden,
  NotFound,
  PayloadTooLarge,
  Unauthorized,
  UnsupportedPayloadVersion
} from "../schema/problem.ts"

/**
 * The control plane's HTTP contract (control-plane.md §3); handlers live in NodesHttp.ts and HealthHttp.ts.
 * 413 is answered by layers/Http.ts before a handler runs; it is listed here for the OpenAPI document.
 */

/** The node a request is authenticated as (from its node JWT). */
export class CurrentNode extends Context.Tag("cynode/CurrentNode")<CurrentNode, {
  readonly id: string
  readonly node_slug: string
}>() {}

/** `Authorization: Bearer <node_jwt>`: HS256, type node, audience cynode-node, jti = the node's current one. */
export class NodeAuth extends HttpApiMiddleware.Tag<NodeAuth>()("cynode/NodeAuth", {
  failure: Schema.Union(Unauthorized, NotFound),
  provides: CurrentNode,
  security: { nodeJwt: HttpApiSecurity.bearer }
}) {}

/** Checks the registration PSK before the body is decoded, so a wrong PSK is 401 whatever the capability says. */
export class RegistrationPsk extends HttpApiMiddleware.Tag<RegistrationPsk>()("cynode/RegistrationPsk", {
  failure: Unauthorized
}) {}

/** The operator listing's caller: an admin's user access token whose session is still active. */
export class CurrentOperator extends Context.Tag("cynode/CurrentOperator")<CurrentOperator, {
  readonly user_id: string
  readonly handle: string
}>() {}

export class OperatorAuth extends HttpApiMiddleware.Tag<OperatorAuth>()("cynode/OperatorAuth", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: CurrentOperator,
  security: { accessToken: HttpApiSecurity.bearer }
}) {}

const PlainText = Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain" }))

/** `/readyz` answers 503 with the reason as plain text. */
export const NotReady = PlainText.annotations({ description: "not ready, with the reason" })

export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(PlainText))
  .add(HttpApiEndpoint.get("readyz", "/readyz").addSuccess(PlainText).addError(NotReady, { status: 503 }))
{}

export const NodeSummary = Schema.Struct({
  id: Schema.String,
  node_slug: Schema.String,
  status: Schema.String,
  dispatchable: Schema.Boolean,
  worker_api_target_url: Schema.NullOr(Schema.String),
  capability_hash: Schema.NullOr(Schema.String),
  issued_config_version: Schema.NullOr(Schema.String),
  config_version: Schema.NullOr(Schema.String),
  config_ack_status: Schema.NullOr(Schema.String),
  config_ack_error: Schema.NullOr(Schema.String),
  config_ack_at: Schema.NullOr(Schema.String),
  last_seen_at: Schema.NullOr(Schema.String),
  last_capability_at: Schema.NullOr(Schema.String)
}).annotations({ identifier: "NodeSummary" })

export class NodesGroup extends HttpApiGroup.make("nodes")
  .add(
    HttpApiEndpoint.post("register", "/v1/nodes/register")
      .setPayload(RegisterRequest)
      .addSuccess(NodeBootstrapPayload.annotations({ description: "known node" }))
      .addSuccess(NodeBootstrapPayload.annotations({ description: "new node" }), { status: 201 })
      .addError(BadRequest)
      .addError(UnsupportedPayloadVersion)
      .addError(Unauthorized)
      .addError(PayloadTooLarge)
      .middleware(RegistrationPsk)
  )
  .add(
    HttpApiEndpoint.get("config", "/v1/nodes/config")
      .addSuccess(NodeConfigurationPayload)
      .addError(NotFound)
      .middleware(NodeAuth)
  )
  .add(
    HttpApiEndpoint.post("ack", "/v1/nodes/config")
      .setPayload(NodeConfigAck)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(BadRequest)
      .addError(UnsupportedPayloadVersion)
      .addError(Conflict)
      .addError(PayloadTooLarge)
      .middleware(NodeAuth)
  )
  .add(
    HttpApiEndpoint.post("capability", "/v1/nodes/capability")
      .setPayload(NodeCapabilityReport)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(BadRequest)
      .addError(UnsupportedPayloadVersion)
      .addError(PayloadTooLarge)
      .middleware(NodeAuth)
  )
  .add(
    HttpApiEndpoint.post("heartbeat", "/v1/nodes/heartbeat")
      .addSuccess(NodeHeartbeatAnswer)
      .addError(NotFound)
      .middleware(NodeAuth)
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/nodes")
      .addSuccess(Schema.Struct({ nodes: Schema.Array(NodeSummary) }))
      .middleware(OperatorAuth)
  )
{}

export class ControlPlaneApi extends HttpApi.make("control-plane")
  .add(HealthGroup)
  .add(NodesGroup)
  .annotate(HttpApi.AdditionalSchemas, [NodeCapabilityReport])
{}
