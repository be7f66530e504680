/**
 * Figure 1, task latency: `echo hello` submitted through the gateway until its result arrives, beside the two floors
 * of bench/container-floor.ts measured in the same rounds (one of each per round, interleaved, so machine noise hits
 * them alike): the runtime's own CLI (`podman run --rm`), ContainerRuntime.run (what the worker uses), the bare
 * create+start+wait+logs+remove cycle through the same API, and ContainerRuntime.run of the worker's own hardened
 * sandbox spec (bench/sandboxRun.ts), which tells the sandbox's cost apart from orchestration's. The gateway samples are split into steps from the
 * worker's millisecond timestamps (same clock, same machine).
 */
import { Effect } from "effect"
import { ContainerRuntime } from "../layers/ContainerRuntime.ts"
import { runEcho, type Session, type TaskTiming } from "./client.ts"
import { makeSandboxRun } from "./sandboxRun.ts"
import { apiRunOnce, apiWaitOnce, cliCommand, cliOnce, interleaved, SANDBOX_IMAGE, stats } from "./container-floor.ts"

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
const median = (values: ReadonlyArray<number>) => stats(values.filter((v) => Number.isFinite(v))).medianMs

/** Medians of where a gateway task's time goes (ms). */
const breakdown = (timings: ReadonlyArray<TaskTiming>) => ({
  submit: median(timings.map((t) => t.submitMs)),
  submittedToContainerStart: median(timings.map((t) => t.workerStartedAt - (t.submittedAt + t.submitMs))),
  containerStartToExit: median(timings.map((t) => t.workerEndedAt - t.workerStartedAt)),
  exitToResultAtClient: median(timings.map((t) => t.receivedAt - t.workerEndedAt))
})

export const measureTaskLatency = (session: Session, runs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const rt = yield* ContainerRuntime
    yield* rt.ensureImage(SANDBOX_IMAGE)
    const argv = cliCommand(rt.engine)
    const lostOutput = { count: 0 }
    const steps: Record<string, Array<number>> = {}
    const timings: Array<TaskTiming> = []
    const gatewayOnce = Effect.promise(() => runEcho(session)).pipe(
      Effect.map((t) => {
        timings.push(t)
        return t.totalMs
      })
    )
    const sandbox = yield* Effect.acquireRelease(makeSandboxRun, (s) => s.cleanup)
    const [cli, apiRun, apiWait, apiSandbox, gateway] = yield* interleaved(runs, [
      cliOnce(argv, lostOutput),
      apiRunOnce(rt),
      apiWaitOnce(rt, steps),
      sandbox.once,
      gatewayOnce
    ])
    const measured = timings.slice(1) // the first one was the warm-up
    return {
      runs,
      command: "echo hello",
      gateway: { ...gateway, stepsMedianMs: breakdown(measured) },
      cli: { ...cli, command: argv.join(" "), outputLost: lostOutput.count },
      apiRun,
      apiWait: { ...apiWait, stepsMedianMs: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, stats(v.slice(1)).medianMs])) },
      apiSandbox,
      ratios: {
        gatewayToCliP50: ratio(gateway.medianMs, cli.medianMs),
        gatewayToCliP95: ratio(gateway.p95Ms, cli.p95Ms),
        gatewayToApiWaitP50: ratio(gateway.medianMs, apiWait.medianMs),
        gatewayToApiRunP50: ratio(gateway.medianMs, apiRun.medianMs),
        gatewayToApiSandboxP50: ratio(gateway.medianMs, apiSandbox.medianMs)
      },
      target: { gatewayToCliP50AtMost: 1.25 }
    }
  }))

export type TaskLatency = Effect.Effect.Success<ReturnType<typeof measureTaskLatency>>
