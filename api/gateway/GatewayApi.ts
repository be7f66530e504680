import { HttpApi, OpenApi } from "@effect/platform"
import { AdminApi } from "./AdminApi.ts"
import { AccountApi, AuthApi } from "./AuthApi.ts"
import { HealthApi } from "./HealthApi.ts"
import { NodesAdminApi } from "./NodesAdminApi.ts"
import { TasksApi } from "./TasksApi.ts"

/** The user gateway's whole HTTP contract; `/openapi.json` and `/docs` are generated from it. */
export class GatewayApi extends HttpApi.make("user-gateway")
  .add(HealthApi)
  .add(AuthApi)
  .add(AccountApi)
  .add(AdminApi)
  .add(TasksApi)
  .add(NodesAdminApi)
  .annotate(OpenApi.Title, "CyNode user gateway")
{}
