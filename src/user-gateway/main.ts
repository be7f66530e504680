import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as Database from "../../layers/Database.ts"
import { serveApi } from "../../layers/Http.ts"
import { Jwt } from "../../layers/Jwt.ts"
import { runProgram } from "../../layers/Program.ts"
import { Passwords } from "../../layers/Passwords.ts"
import { ArtifactStore } from "../../layers/ArtifactStore.ts"
import { AdminHttpLive } from "./AdminHttp.ts"
import { NodesAdminHttpLive } from "./NodesAdminHttp.ts"
// Readiness and node admin read the cluster state the control plane defines.
import { NodeAdmin } from "../control-plane/NodeAdmin.ts"
import { Readiness } from "../control-plane/Readiness.ts"
import { Audit } from "./Audit.ts"
import { AuthenticationLive } from "./Authentication.ts"
import { AccountHttpLive, AuthHttpLive } from "./AuthHttp.ts"
import { BootstrapAdminLive } from "../../layers/BootstrapAdmin.ts"
import { ConsoleHttpLive } from "./ConsoleHttp.ts"
import { GatewayApi } from "../../api/gateway/GatewayApi.ts"
import { GatewayConfig } from "./GatewayConfig.ts"
import { gatewayRoutes } from "./GatewayRoutes.ts"
import { HealthHttpLive } from "./HealthHttp.ts"
import { LoginThrottle } from "./LoginThrottle.ts"
import { Sessions } from "./Sessions.ts"
import { SessionsRepo } from "./SessionsRepo.ts"
import { TaskCompletions } from "./TaskCompletions.ts"
import { TaskOutput } from "./TaskOutput.ts"
import { TasksHttpLive } from "./TasksHttp.ts"
import { TasksRepo } from "./TasksRepo.ts"
import { UsersRepo } from "./UsersRepo.ts"

/** The user gateway (user-gateway.md): composition only. */

const Infrastructure = Layer.mergeAll(Database.layer, Jwt.Live, GatewayConfig.Live, Passwords.Live)

const Services = Layer.mergeAll(
  UsersRepo.Live,
  SessionsRepo.Live,
  TasksRepo.Live,
  Audit.Live,
  LoginThrottle.Live,
  TaskCompletions.Live,
  TaskOutput.Live,
  ArtifactStore.Postgres,
  Readiness.Live,
  NodeAdmin.Live
).pipe(Layer.provideMerge(Infrastructure))

const Api = HttpApiBuilder.api(GatewayApi).pipe(
  Layer.provide([HealthHttpLive, AuthHttpLive, AccountHttpLive, AdminHttpLive, TasksHttpLive, NodesAdminHttpLive]),
  Layer.provide(AuthenticationLive),
  Layer.merge(ConsoleHttpLive)
)

const Server = Layer.unwrapEffect(
  Effect.map(GatewayConfig, (settings) =>
    serveApi(GatewayApi, Api, settings.listen, { routes: gatewayRoutes(settings.maxBodyBytes) }))
)

const Listening = Layer.effectDiscard(
  HttpServer.addressFormattedWith((address) =>
    Effect.logInfo("user gateway listening").pipe(Effect.annotateLogs("address", address)))
)

const Main = Listening.pipe(
  Layer.provideMerge(Server),
  Layer.provide(Sessions.Live),
  Layer.provide(BootstrapAdminLive),
  Layer.provideMerge(Services)
)

runProgram("user-gateway", Layer.launch(Main))
