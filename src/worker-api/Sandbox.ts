import { Duration, Effect, Schedule } from "effect"
import { lstat, readdir } from "node:fs/promises"
import { join } from "node:path"
import type { CapturedOutput, ContainerRuntimeShape, ContainerSpec, OutputListener } from "../../layers/ContainerRuntime.ts"
import type { Identifier } from "../../schema/ids.ts"
import type { SandboxJob } from "../../schema/job.ts"
import type { WorkerSettings } from "./Settings.ts"

/**
 * The sandbox container (worker-node.md §7): the locked-down create options, and one run raced against the job's
 * timeout and a stop request (cancel, shutdown). The container is removed by the scope whatever happens, the
 * request's fate included: this runs in a fiber the worker owns.
 */

export const WORKSPACE_MOUNT = "/workspace"
export const STOP_GRACE = Duration.seconds(2)
/** After the exit, how long the output streams may take to drain. */
const DRAIN_TIMEOUT = Duration.seconds(2)

export const sandboxLabels = (nodeSlug: string, taskId: Identifier, jobId: Identifier) => ({
  "io.cynode.node": nodeSlug,
  "io.cynode.role": "sandbox",
  "io.cynode.task_id": taskId,
  "io.cynode.job_id": jobId
})

export const containerName = (jobId: Identifier) => `cynode-job-${jobId}`

/**
 * Exactly the three context variables plus the job's own env; the reserved keys are written last, so a job cannot
 * forge them. Nothing of this process's environment is passed on.
 */
export const sandboxEnv = (taskId: Identifier, jobId: Identifier, env: Readonly<Record<string, string>> = {}) => ({
  ...env,
  CYNODE_TASK_ID: taskId,
  CYNODE_JOB_ID: jobId,
  CYNODE_WORKSPACE_DIR: WORKSPACE_MOUNT
})

export const sandboxSpec = (
  settings: WorkerSettings,
  job: { readonly task_id: Identifier; readonly job_id: Identifier; readonly sandbox: SandboxJob },
  workspace: string
): ContainerSpec => ({
  image: job.sandbox.image,
  cmd: job.sandbox.command,
  env: sandboxEnv(job.task_id, job.job_id, job.sandbox.env),
  workingDir: WORKSPACE_MOUNT,
  user: settings.sandboxUser,
  name: containerName(job.job_id),
  labels: sandboxLabels(settings.nodeSlug, job.task_id, job.job_id),
  binds: [`${workspace}:${WORKSPACE_MOUNT}:rw`],
  // Phase 1: `none`, `restricted` and an absent policy all mean no network at all.
  networkMode: "none",
  memoryBytes: settings.memoryBytes,
  pidsLimit: settings.pidsLimit,
  cpus: settings.cpus,
  // Only the workspace and a size-capped /tmp are writable (the tmpfs counts against the memory limit).
  readonlyRootfs: true,
  tmpfs: { "/tmp": `rw,nosuid,nodev,size=${settings.tmpBytes},mode=1777` },
  ulimits: { nofile: settings.nofile, nproc: settings.nproc },
  capDrop: ["ALL"],
  securityOpt: ["no-new-privileges"],
  // Output comes from the attach stream; the engine keeps no log file of it.
  logDriver: "none"
})

export type StopReason = "cancel" | "shutdown"

export type SandboxEnding =
  | { readonly _tag: "Exited"; readonly exitCode: number }
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "Stopped"; readonly reason: StopReason }
  /** The engine refused to start the process (executable not found, bad user, …). */
  | { readonly _tag: "StartFailed"; readonly message: string }
  /** The job's workspace grew beyond its cap and the job was stopped. */
  | { readonly _tag: "WorkspaceFull"; readonly limitBytes: number }

export interface SandboxRun {
  readonly ending: SandboxEnding
  readonly output: CapturedOutput
  readonly startedAt: Date
  readonly endedAt: Date
}

export interface SandboxRunOptions {
  readonly timeout: Duration.DurationInput
  readonly maxOutputBytes: number
  /** Completes when the job must stop early; its value says why. */
  readonly stopRequested: Effect.Effect<StopReason>
  /** Sees the kept output as it arrives (the job's live output log). */
  readonly onOutput?: OutputListener
  /** The job's host workspace and its size cap, watched while the job runs. */
  readonly workspace?: { readonly path: string; readonly limitBytes: number }
}

/**
 * create, attach, start, then the exit raced against the timeout and a stop request; on either, `stop` (2 s grace,
 * then SIGKILL) and wait. The runtime's own `run` has no stop request, hence this variant built from its parts.
 */
export const runSandbox = (runtime: ContainerRuntimeShape, spec: ContainerSpec, options: SandboxRunOptions) =>
  Effect.scoped(
    Effect.gen(function*() {
      const caps = { stdout: options.maxOutputBytes, stderr: options.maxOutputBytes }
      const id = yield* Effect.acquireRelease(runtime.create(spec), (id) => removeReliably(runtime, id))
      // Podman runs the OCI runtime's create while attaching, so an unknown executable can fail either step.
      const started = yield* Effect.either(
        Effect.gen(function*() {
          const attachment = yield* runtime.attach(id, caps, options.onOutput)
          const startedAt = new Date()
          yield* runtime.start(id)
          return { attachment, startedAt }
        }).pipe(Effect.catchIf((e) => e._tag !== "ContainerFailed", Effect.die))
      )
      if (started._tag === "Left") {
        const now = new Date()
        return {
          ending: { _tag: "StartFailed", message: startFailure(started.left.message) },
          output: { stdout: new Uint8Array(), stderr: new Uint8Array(), stdoutTruncated: false, stderrTruncated: false, stdoutBytes: 0, stderrBytes: 0 },
          startedAt: now,
          endedAt: now
        } satisfies SandboxRun
      }
      const { attachment, startedAt } = started.right
      const exited = attachment.closed.pipe(
        Effect.zipRight(runtime.inspect(id)),
        Effect.flatMap((d) => (d.running ? runtime.wait(id) : Effect.succeed(d.exitCode))),
        Effect.map((exitCode): SandboxEnding => ({ _tag: "Exited", exitCode }))
      )
      const timedOut: Effect.Effect<SandboxEnding> = Effect.as(Effect.sleep(options.timeout), { _tag: "TimedOut" })
      const stopped = Effect.map(options.stopRequested, (reason): SandboxEnding => ({ _tag: "Stopped", reason }))
      const workspaceFull: Effect.Effect<SandboxEnding> = options.workspace === undefined
        ? Effect.never
        : watchWorkspace(options.workspace.path, options.workspace.limitBytes)
      const first = yield* Effect.raceAll([exited, timedOut, stopped, workspaceFull])
      if (first._tag !== "Exited") {
        yield* runtime.stop(id, STOP_GRACE).pipe(Effect.zipRight(runtime.wait(id)), Effect.ignoreLogged)
      }
      const endedAt = new Date()
      const output = yield* attachment.closed.pipe(
        Effect.timeoutTo({ duration: DRAIN_TIMEOUT, onSuccess: Effect.succeed, onTimeout: () => attachment.snapshot }),
        Effect.flatten
      )
      return { ending: first, output, startedAt, endedAt } satisfies SandboxRun
    })
  )

/** How often a running job's workspace is measured: a job can overshoot its cap by what it writes in this time. */
const WORKSPACE_POLL = Duration.millis(500)

/**
 * Completes when the workspace holds more than `limitBytes`. A watched size, not a filesystem quota: it works the
 * same on Podman and Docker, any filesystem and cgroups v1 or v2, at the price of the overshoot above.
 */
export const watchWorkspace = (path: string, limitBytes: number): Effect.Effect<SandboxEnding> =>
  Effect.promise(() => workspaceBytes(path, limitBytes)).pipe(
    Effect.repeat({ schedule: Schedule.spaced(WORKSPACE_POLL), until: (bytes) => bytes > limitBytes }),
    Effect.as({ _tag: "WorkspaceFull", limitBytes } as const)
  )

/** Bytes allocated under `root` (stopping early once past `stopAbove`); unreadable entries count as nothing. */
export const workspaceBytes = async (root: string, stopAbove: number): Promise<number> => {
  let total = 0
  const pending = [root]
  while (pending.length > 0 && total <= stopAbove) {
    const dir = pending.pop()!
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) pending.push(full)
      const info = await lstat(full).catch(() => undefined)
      // Allocated blocks, so a sparse file counts for what it really takes on disk.
      if (info !== undefined) total += info.blocks * 512
    }
  }
  return total
}

/** The OCI runtime's reason, without the engine's wrapping ("preparing container … for attach: runc create failed: …"). */
const startFailure = (message: string): string =>
  message.replace(/^.*unable to start container process: /s, "").replace(/\s+/g, " ").trim()

/** `exec` could not find the command: reported like a shell would, exit 127. */
export const isCommandNotFound = (message: string): boolean =>
  /executable file not found|command that was not found|no such file or directory/i.test(message)

/** Removal with retries; a container that still resists is left to the periodic reaper. */
export const removeReliably = (runtime: ContainerRuntimeShape, id: string) =>
  runtime.remove(id).pipe(
    Effect.retry({ times: 3, schedule: Schedule.spaced("200 millis") }),
    Effect.catchAll((e) =>
      Effect.logWarning("sandbox container not removed; the reaper will retry").pipe(
        Effect.annotateLogs({ container_id: id, error: e.message })
      )
    )
  )
