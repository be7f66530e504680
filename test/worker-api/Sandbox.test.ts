import { describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { toCreateOptions } from "../../layers/container/spec.ts"
import type { Identifier } from "../../schema/ids.ts"
import { isCommandNotFound, sandboxSpec, workspaceBytes } from "../../src/worker-api/Sandbox.ts"
import { workerSettings } from "../support/workerSettings.ts"

/** The sandbox's create options (worker-node.md §7), as the engine receives them. */

const settings = workerSettings()

const id = (s: string) => s as Identifier

describe("sandboxSpec", () => {
  it("locks the container down whatever the network policy", () => {
    for (const policy of ["none", "restricted", undefined] as const) {
      const options = toCreateOptions(
        sandboxSpec(
          settings,
          {
            task_id: id("task-1"),
            job_id: id("job-1"),
            sandbox: {
              image: "localhost/cynode-sandbox:latest",
              command: ["sh", "-c", "echo hi"],
              env: { FOO: "bar", CYNODE_TASK_ID: "forged", CYNODE_WORKSPACE_DIR: "/etc" },
              ...(policy === undefined ? {} : { network_policy: policy })
            }
          },
          "/var/lib/cynode/state/sandbox_mounts/job-1/workspace"
        )
      )
      expect(options.name).toBe("cynode-job-job-1")
      expect(options.Cmd).toEqual(["sh", "-c", "echo hi"])
      expect(options.WorkingDir).toBe("/workspace")
      expect(options.User).toBe("65532:65532")
      expect([...(options.Env ?? [])].sort()).toEqual(
        ["CYNODE_JOB_ID=job-1", "CYNODE_TASK_ID=task-1", "CYNODE_WORKSPACE_DIR=/workspace", "FOO=bar"]
      )
      expect(options.Labels).toEqual({
        "io.cynode.managed": "true",
        "io.cynode.node": "node-01",
        "io.cynode.role": "sandbox",
        "io.cynode.task_id": "task-1",
        "io.cynode.job_id": "job-1"
      })
      const host = options.HostConfig!
      expect(host.NetworkMode).toBe("none")
      expect(host.Binds).toEqual(["/var/lib/cynode/state/sandbox_mounts/job-1/workspace:/workspace:rw"])
      expect(host.CapDrop).toEqual(["ALL"])
      expect(host.SecurityOpt).toEqual(["no-new-privileges"])
      expect(host.Memory).toBe(1024 * 1024 * 1024)
      expect(host.MemorySwap).toBe(1024 * 1024 * 1024)
      expect(host.PidsLimit).toBe(256)
      expect(host.NanoCpus).toBe(1_000_000_000)
      expect(host.ReadonlyRootfs).toBe(true)
      expect(host.Tmpfs).toEqual({ "/tmp": `rw,nosuid,nodev,size=${64 * 1024 * 1024},mode=1777` })
      expect(host.Ulimits).toEqual([{ Name: "nofile", Soft: 1024, Hard: 1024 }, { Name: "nproc", Soft: 1024, Hard: 1024 }])
      expect(host.Privileged).toBe(false)
      expect(host.AutoRemove).toBe(false)
      expect(host.PortBindings).toBeUndefined()
      expect(options.ExposedPorts).toBeUndefined()
    }
  })

  it("recognises a command that does not exist", () => {
    expect(isCommandNotFound(`exec: "nosuchcmd": executable file not found in $PATH`)).toBe(true)
    expect(isCommandNotFound("permission denied")).toBe(false)
  })
})

describe("workspaceBytes", () => {
  it("counts the blocks files take, in subdirectories too, and stops counting past the cap", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cynode-ws-size-"))
    mkdirSync(join(dir, "a", "b"), { recursive: true })
    writeFileSync(join(dir, "one"), Buffer.alloc(1024 * 1024, 1))
    writeFileSync(join(dir, "a", "b", "two"), Buffer.alloc(2 * 1024 * 1024, 1))
    const total = await workspaceBytes(dir, Number.MAX_SAFE_INTEGER)
    expect(total).toBeGreaterThanOrEqual(3 * 1024 * 1024)
    expect(total).toBeLessThan(4 * 1024 * 1024)
    expect(await workspaceBytes(dir, 1)).toBeGreaterThan(1)
    rmSync(dir, { recursive: true, force: true })
  })
})
