import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as Database from "../../layers/Database.ts"
import { serveApi } from "../../layers/Http.ts"
import { Jwt } from "../../layers/Jwt.ts"
import { runProgram } from "../../layers/Program.ts"
import { Passwords } from "../../layers/Passwords.ts"
import { BootstrapAdminLive } from "../../layers/BootstrapAdmin.ts"
import { ConfigDelivery } from "./ConfigDelivery.ts"
import { ControlPlaneConfig } from "./ControlPlaneConfig.ts"
import { DispatcherLive, DispatcherStatus, ReadinessWithDispatcher } from "./Dispatcher.ts"
import { DispatchSettings } from "./DispatchSettings.ts"
import { DispatchWakeup } from "./DispatchWakeup.ts"
import { HealthHttpLive } from "./HealthHttp.ts"
import { LivenessRepo, LivenessSettings, LivenessSweeper } from "./Liveness.ts"
import { JobsRepo } from "./JobsRepo.ts"
import { NodeAuthLive } from "./NodeAuth.ts"
import { controlPlaneRoutes } from "./ControlPlaneRoutes.ts"
import { ControlPlaneApi } from "../../api/control-plane.ts"
import { NodesHttpLive } from "./NodesHttp.ts"
import { NodesRepo } from "./NodesRepo.ts"
import { OperatorAuthLive } from "./OperatorAuth.ts"
import { OperatorsRepo } from "./OperatorsRepo.ts"
import { RegistrationPskLive } from "./RegistrationPsk.ts"
import { WorkerTokens } from "./WorkerTokens.ts"

/** The control plane (control-plane.md): composition only. `--migrate-only` migrates the database and exits. */

const PROGRAM = "control-plane"

// Configuration first, so a missing secret is reported before any database work.
const Infrastructure = Layer.mergeAll(Database.layer, Passwords.Live).pipe(
  Layer.provideMerge(Layer.mergeAll(ControlPlaneConfig.Live, Jwt.Live, WorkerTokens.Live))
)

const Services = Layer.mergeAll(ConfigDelivery.Default, OperatorsRepo.Default).pipe(
  Layer.provideMerge(NodesRepo.Default),
  Layer.provideMerge(Layer.mergeAll(
    ReadinessWithDispatcher,
    DispatchWakeup.Default,
    DispatchSettings.Live,
    LivenessSettings.Live,
    LivenessRepo.Live,
    JobsRepo.Live
  )),
  Layer.provideMerge(DispatcherStatus.Default),
  Layer.provideMerge(Infrastructure)
)

const Api = HttpApiBuilder.api(ControlPlaneApi).pipe(
  Layer.provide([HealthHttpLive, NodesHttpLive]),
  Layer.provide([NodeAuthLive, RegistrationPskLive, OperatorAuthLive])
)

const Server = Layer.unwrapEffect(
  Effect.map(ControlPlaneConfig, (settings) => serveApi(ControlPlaneApi, Api, settings.listen, { routes: controlPlaneRoutes }))
)

const Listening = Layer.effectDiscard(
  HttpServer.addressFormattedWith((address) =>
    Effect.logInfo("control plane listening").pipe(Effect.annotateLogs("address", address)))
)

// The dispatcher runs beside the HTTP server.
const Main = Listening.pipe(
  Layer.provideMerge(Server),
  Layer.merge(DispatcherLive),
  Layer.merge(LivenessSweeper),
  Layer.provide(BootstrapAdminLive),
  Layer.provideMerge(Services)
)

const MigrateOnly = Layer.effectDiscard(Effect.logInfo("database migrations applied; exiting (--migrate-only)")).pipe(
  Layer.provide(Database.layer)
)

const args = process.argv.slice(2)
const unknownArgs = args.filter((arg) => arg !== "--migrate-only")

const program: Effect.Effect<unknown, unknown> = unknownArgs.length > 0
  ? Effect.fail(new Error(`unknown argument ${unknownArgs.join(" ")}; usage: control-plane [--migrate-only]`))
  : args.includes("--migrate-only")
  ? Layer.build(MigrateOnly).pipe(Effect.scoped)
  : Layer.launch(Main)

runProgram(PROGRAM, program)
