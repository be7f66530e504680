import { After, AfterAll, Given, Then, When } from "@cucumber/cucumber"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { strict as assert } from "node:assert"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ContainerRuntime, type RunResult } from "../../layers/ContainerRuntime.ts"
import { ScenarioStates } from "../support/scenarioStates.ts"

/** Steps for features/worker_node/sandbox_container.feature: real containers through the ContainerRuntime layer. */

const SANDBOX_IMAGE = process.env.CYNODE_SANDBOX_IMAGE ?? "localhost/cynode-sandbox:latest"

/** One runtime for all scenarios (discovery from the environment, as the worker does). */
const runtime = ManagedRuntime.make(ContainerRuntime.Live.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))))

interface ScenarioState {
  /** Labels every container of the scenario carries, so leftovers are checked for our containers only. */
  readonly labels: Record<string, string>
  workspace?: string
  result?: RunResult
}

const states = new ScenarioStates<ScenarioState>(() => ({ labels: { "io.cynode.role": "sandbox", "io.cynode.test": `bdd-${randomUUID()}` } }))
const stateOf = (world: object) => states.of(world)

const resultOf = (world: object): RunResult => {
  const { result } = stateOf(world)
  assert.ok(result, "no sandbox container has run in this scenario")
  return result
}

const runSandbox = (state: ScenarioState, script: string, options: { readonly timeoutSeconds: number; readonly workspace?: string }) =>
  runtime.runPromise(
    Effect.flatMap(ContainerRuntime, (rt) =>
      rt.run(
        {
          image: SANDBOX_IMAGE,
          cmd: ["sh", "-c", script],
          networkMode: "none",
          workingDir: "/workspace",
          labels: state.labels,
          ...(options.workspace === undefined ? {} : { binds: [`${options.workspace}:/workspace:rw`] })
        },
        { timeout: `${options.timeoutSeconds} seconds`, stopGrace: "1 second" }
      )
    )
  )

Given("a host workspace directory for the sandbox container", function (this: object) {
  stateOf(this).workspace = mkdtempSync(join(tmpdir(), "cynode-bdd-workspace-"))
})

When(
  "a sandbox container runs {string} with network none and the workspace at \\/workspace",
  { timeout: 60_000 },
  async function (this: object, script: string) {
    const state = stateOf(this)
    assert.ok(state.workspace, "no host workspace directory was made")
    state.result = await runSandbox(state, script, { timeoutSeconds: 30, workspace: state.workspace })
  }
)

When("a sandbox container runs {string} with a timeout of {int} second(s)", { timeout: 60_000 }, async function (
  this: object,
  script: string,
  seconds: number
) {
  const state = stateOf(this)
  state.result = await runSandbox(state, script, { timeoutSeconds: seconds })
})

Then("the sandbox container exited with code {int}", function (this: object, code: number) {
  const result = resultOf(this)
  assert.equal(result.timedOut, false, "the run timed out")
  assert.equal(result.exitCode, code)
})

Then("the sandbox container run is reported as timed out", function (this: object) {
  const result = resultOf(this)
  assert.equal(result.timedOut, true)
  assert.notEqual(result.exitCode, 0)
})

Then("the sandbox container's stdout is the line {string}", function (this: object, line: string) {
  assert.equal(Buffer.from(resultOf(this).stdout).toString("utf8"), `${line}\n`)
})

Then("the sandbox container's stderr is the line {string}", function (this: object, line: string) {
  assert.equal(Buffer.from(resultOf(this).stderr).toString("utf8"), `${line}\n`)
})

Then("the host workspace file {string} holds the line {string}", function (this: object, name: string, line: string) {
  const { workspace } = stateOf(this)
  assert.ok(workspace, "no host workspace directory was made")
  assert.equal(readFileSync(join(workspace, name), "utf8"), `${line}\n`)
})

Then("no sandbox container of this scenario is left behind", { timeout: 30_000 }, async function (this: object) {
  const { labels } = stateOf(this)
  const left = await runtime.runPromise(Effect.flatMap(ContainerRuntime, (rt) => rt.listByLabel(labels)))
  assert.deepEqual(left, [])
})

After(function (this: object) {
  const { workspace } = stateOf(this)
  if (workspace !== undefined) rmSync(workspace, { recursive: true, force: true })
})

AfterAll(() => runtime.dispose())
