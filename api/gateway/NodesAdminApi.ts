import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "@effect/platform"
import { NodeList, NodeSlugPath, NodeView } from "../../schema/node.ts"
import { Conflict, Forbidden, NotFound } from "../../schema/problem.ts"
import { Authentication } from "./AuthMiddleware.ts"

/** Operator control of nodes (docs/dispatch.md "Operator control"): admin only; others get 403. */
export class NodesAdminApi extends HttpApiGroup.make("nodes")
  .add(HttpApiEndpoint.get("list", "/v1/nodes").addSuccess(NodeList))
  .add(HttpApiEndpoint.post("drain", "/v1/nodes/:node_slug/drain").setPath(NodeSlugPath).addSuccess(NodeView).addError(NotFound))
  .add(HttpApiEndpoint.post("disable", "/v1/nodes/:node_slug/disable").setPath(NodeSlugPath).addSuccess(NodeView).addError(NotFound))
  .add(HttpApiEndpoint.post("enable", "/v1/nodes/:node_slug/enable").setPath(NodeSlugPath).addSuccess(NodeView).addError(NotFound))
  .add(
    HttpApiEndpoint.del("remove", "/v1/nodes/:node_slug")
      .setPath(NodeSlugPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(NotFound)
      .addError(Conflict)
  )
  .addError(Forbidden)
  .middleware(Authentication)
{}
