import type Docker from "dockerode"

/** What a caller asks for; `toCreateOptions` turns it into the engine's create body with CyNode's fixed rules. */

export const MANAGED_LABEL = "io.cynode.managed"

export interface PortPublish {
  readonly containerPort: number
  readonly protocol?: "tcp" | "udp"
  /** Host address to bind, e.g. `127.0.0.1` (never all interfaces unless asked). */
  readonly hostIp: string
  /** 0 lets the engine choose. */
  readonly hostPort: number
}

export interface ContainerSpec {
  readonly image: string
  readonly cmd?: ReadonlyArray<string>
  readonly entrypoint?: ReadonlyArray<string>
  /** The complete environment besides the image's own `ENV`; nothing is inherited from this process. */
  readonly env?: Readonly<Record<string, string>>
  readonly workingDir?: string
  /** `uid:gid` or a user name of the image. */
  readonly user?: string
  readonly name?: string
  /** Added to `io.cynode.managed=true`, which is always set. */
  readonly labels?: Readonly<Record<string, string>>
  /** `host-path:container-path[:options]`. */
  readonly binds?: ReadonlyArray<string>
  /** Default `none`: no network unless the caller names one. */
  readonly networkMode?: string
  readonly publish?: ReadonlyArray<PortPublish>
  /** Memory ceiling; swap is set to the same value, so there is no extra swap. */
  readonly memoryBytes?: number
  readonly pidsLimit?: number
  /** CPU ceiling in CPUs (0.5 = half of one); the engine turns it into a CFS quota (cgroups v1 and v2). */
  readonly cpus?: number
  /** Soft = hard limits. Both are always sent (Podman with runc fails without them); defaults 1024 each. */
  readonly ulimits?: { readonly nofile?: number; readonly nproc?: number }
  readonly capDrop?: ReadonlyArray<string>
  readonly capAdd?: ReadonlyArray<string>
  readonly securityOpt?: ReadonlyArray<string>
  readonly readonlyRootfs?: boolean
  readonly tmpfs?: Readonly<Record<string, string>>
  /** `none` keeps no engine-side log file (output is then only available through attach). */
  readonly logDriver?: "engine-default" | "none"
  readonly stopSignal?: string
}

export const DEFAULT_NOFILE = 1024
export const DEFAULT_NPROC = 1024

export const managedLabels = (labels: Readonly<Record<string, string>> = {}): Record<string, string> => ({
  ...labels,
  [MANAGED_LABEL]: "true"
})

const portKey = (p: PortPublish) => `${p.containerPort}/${p.protocol ?? "tcp"}`

export const toCreateOptions = (spec: ContainerSpec): Docker.ContainerCreateOptions => {
  const nofile = spec.ulimits?.nofile ?? DEFAULT_NOFILE
  const nproc = spec.ulimits?.nproc ?? DEFAULT_NPROC
  const publish = spec.publish ?? []
  const hostConfig: Docker.HostConfig = {
    NetworkMode: spec.networkMode ?? "none",
    Binds: [...(spec.binds ?? [])],
    Ulimits: [
      { Name: "nofile", Soft: nofile, Hard: nofile },
      { Name: "nproc", Soft: nproc, Hard: nproc }
    ],
    AutoRemove: false,
    Privileged: false,
    ...(spec.memoryBytes === undefined ? {} : { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes }),
    ...(spec.pidsLimit === undefined ? {} : { PidsLimit: spec.pidsLimit }),
    ...(spec.cpus === undefined ? {} : { NanoCpus: Math.round(spec.cpus * 1e9) }),
    ...(spec.capDrop === undefined ? {} : { CapDrop: [...spec.capDrop] }),
    ...(spec.capAdd === undefined ? {} : { CapAdd: [...spec.capAdd] }),
    ...(spec.securityOpt === undefined ? {} : { SecurityOpt: [...spec.securityOpt] }),
    ...(spec.readonlyRootfs === undefined ? {} : { ReadonlyRootfs: spec.readonlyRootfs }),
    ...(spec.tmpfs === undefined ? {} : { Tmpfs: { ...spec.tmpfs } }),
    ...(spec.logDriver === "none" ? { LogConfig: { Type: "none", Config: {} } } : {}),
    ...(publish.length === 0
      ? {}
      : {
          PortBindings: Object.fromEntries(
            publish.map((p) => [portKey(p), [{ HostIp: p.hostIp, HostPort: p.hostPort === 0 ? "" : String(p.hostPort) }]])
          )
        })
  }
  return {
    Image: spec.image,
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Labels: managedLabels(spec.labels),
    Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
    HostConfig: hostConfig,
    ...(spec.cmd === undefined ? {} : { Cmd: [...spec.cmd] }),
    ...(spec.entrypoint === undefined ? {} : { Entrypoint: [...spec.entrypoint] }),
    ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
    ...(spec.user === undefined ? {} : { User: spec.user }),
    ...(spec.name === undefined ? {} : { name: spec.name }),
    ...(spec.stopSignal === undefined ? {} : { StopSignal: spec.stopSignal }),
    ...(publish.length === 0 ? {} : { ExposedPorts: Object.fromEntries(publish.map((p) => [portKey(p), {}])) })
  }
}
