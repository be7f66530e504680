/**
 * A direct run of exactly the container the worker starts for a job (src/worker-api/Sandbox.ts `sandboxSpec`: its
 * user, workspace bind mount, memory/pids/ulimit caps, dropped capabilities, no network, `sh -c` command, prepared
 * workspace), through the same ContainerRuntime.run, with no HTTP, dispatcher or database around it. Beside the
 * bare floor it separates what the sandbox's hardening costs from what orchestration costs.
 */
import { ConfigProvider, Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ContainerRuntime } from "../layers/ContainerRuntime.ts"
import { Identifier } from "../schema/ids.ts"
import { SandboxJob } from "../schema/job.ts"
import { sandboxSpec } from "../src/worker-api/Sandbox.ts"
import { fromEnv } from "../src/worker-api/Settings.ts"
import { ensureMountRoot, prepareWorkspace } from "../src/worker-api/Workspace.ts"
import { SANDBOX_IMAGE } from "./container-floor.ts"

const id = () => Schema.decodeSync(Identifier)(randomUUID())

/** A sampler (ms per run) and its clean-up; the workspaces live in a temporary mount root. */
export const makeSandboxRun = Effect.gen(function*() {
  const rt = yield* ContainerRuntime
  const mountRoot = fs.mkdtempSync(path.join(os.tmpdir(), "cynode-bench-mounts-"))
  const settings = yield* fromEnv.pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([
      ["CYNODE_NODE_SLUG", "bench-direct"],
      ["CYNODE_SANDBOX_MOUNT_ROOT", mountRoot]
    ])))
  )
  yield* ensureMountRoot(mountRoot)
  const job = Schema.decodeSync(SandboxJob)({ image: SANDBOX_IMAGE, command: ["sh", "-c", "echo hello"] })
  const once = Effect.gen(function*() {
    const t0 = performance.now()
    const jobId = id()
    const workspace = yield* prepareWorkspace(mountRoot, jobId, settings.sandboxUser)
    const result = yield* rt.run(sandboxSpec(settings, { task_id: id(), job_id: jobId, sandbox: job }, workspace), {
      timeout: "30 seconds"
    })
    if (result.exitCode !== 0 || Buffer.from(result.stdout).toString() !== "hello\n") {
      return yield* Effect.dieMessage(`the sandbox run ended ${result.exitCode}: ${Buffer.from(result.stderr).toString()}`)
    }
    return performance.now() - t0
  }).pipe(Effect.orDie)
  const cleanup = Effect.sync(() => fs.rmSync(mountRoot, { recursive: true, force: true }))
  return { once, cleanup }
}).pipe(Effect.orDie)
