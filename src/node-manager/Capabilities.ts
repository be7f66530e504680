import { Effect, Option, Ref } from "effect"
import { readdir, statfs } from "node:fs/promises"
import { arch, cpus, platform, release, totalmem } from "node:os"
import type { ContainerRuntimeShape, EngineInfo } from "../../layers/ContainerRuntime.ts"
import { toTimestamp } from "../../schema/time.ts"
import type { NodeSettings } from "./NodeSettings.ts"

/**
 * `node_capability_report_v1` (worker-node.md §4), every value measured at the time of the report: platform from
 * the OS, runtime from the engine's `/version` and `/info`, CPU/RAM from the OS, free storage of the state
 * directory's file system, GPUs from the kernel's driver directories, inference from what the node observes.
 */

/** What the node knows about its inference service at report time. */
export interface InferenceObservation {
  readonly existingService: boolean
  readonly running: boolean
  /** From `/api/tags`; empty when not running. */
  readonly availableModels: ReadonlyArray<string>
}

export const NO_INFERENCE: InferenceObservation = { existingService: false, running: false, availableModels: [] }

const goArch = (a: string) => (a === "x64" ? "amd64" : a === "ia32" ? "386" : a)

/** NVIDIA exposes one directory per GPU under /proc/driver/nvidia/gpus; AMD's compute driver shows /dev/kfd. */
const detectGpus = Effect.promise(async () => {
  const nvidia = await readdir("/proc/driver/nvidia/gpus").catch(() => [] as Array<string>)
  const amd = await readdir("/dev").then((d) => d.includes("kfd")).catch(() => false)
  return [
    ...nvidia.map(() => ({ vendor: "nvidia" })),
    ...(amd ? [{ vendor: "amd" }] : [])
  ]
})

const storageFreeMb = (path: string) =>
  Effect.promise(() =>
    statfs(path).then((s) => Math.floor((s.bavail * s.bsize) / (1024 * 1024))).catch(() => undefined)
  )

export interface CapabilitySources {
  readonly settings: NodeSettings
  readonly runtime: ContainerRuntimeShape
  readonly inference: Ref.Ref<InferenceObservation>
  /** Set once a call to the orchestrator succeeded (registration counts). */
  readonly orchestratorReachable: Ref.Ref<boolean>
}

/**
 * Returns the measuring effect. The engine's version and rootless mode are read once (Podman's `/info` takes
 * hundreds of milliseconds and does not change while we run); everything else is measured on every report.
 */
export const makeMeasure = (sources: CapabilitySources) =>
  Effect.map(Effect.cached(sources.runtime.info.pipe(Effect.option)), (engineInfo) => measure(sources, engineInfo))

const measure = (sources: CapabilitySources, engineInfo: Effect.Effect<Option.Option<EngineInfo>>) =>
  Effect.gen(function*() {
    const { settings, runtime } = sources
    const info = yield* engineInfo
    const gpus = yield* detectGpus
    const cpuList = cpus()
    const inference = yield* Ref.get(sources.inference)
    const storage = yield* storageFreeMb(settings.worker.mountRoot)
    return {
      version: 1,
      reported_at: toTimestamp(new Date()),
      node: {
        node_slug: settings.nodeSlug,
        ...(Option.isSome(settings.nodeName) ? { name: settings.nodeName.value } : {}),
        labels: settings.nodeLabels
      },
      platform: { os: platform(), arch: goArch(arch()), kernel_version: release() },
      container_runtime: Option.match(info, {
        onNone: () => ({ runtime: runtime.engine, version: "unknown", rootless_supported: false, rootless_enabled: false }),
        onSome: (i) => ({
          runtime: i.engine,
          version: i.version,
          rootless_supported: i.engine === "podman",
          rootless_enabled: i.rootless
        })
      }),
      compute: {
        cpu_model: cpuList[0]?.model.trim() ?? "unknown",
        cpu_cores: cpuList.length,
        ram_mb: Math.floor(totalmem() / (1024 * 1024)),
        ...(storage !== undefined ? { storage_free_mb: storage } : {})
      },
      gpu: gpus.length > 0 ? { present: true, devices: gpus } : { present: false },
      sandbox: { supported: true, features: ["netns"], max_concurrency: settings.worker.maxConcurrency },
      network: { orchestrator_reachable: yield* Ref.get(sources.orchestratorReachable), outbound_policy: "none" },
      inference: {
        supported: settings.inferenceMode !== "disabled",
        mode: settings.inferenceMode,
        existing_service: inference.existingService,
        running: inference.running,
        available_models: inference.availableModels
      },
      worker_api: { base_url: settings.workerPublicUrl }
    }
  })
