/**
 * Figure 5, footprint: resident memory (VmRSS in /proc/<pid>/status) of each program, sampled every 200 ms. Each
 * phase of the run (idle, then each load) is a label; the sampler keeps the peak per program per phase, and at the
 * end reads VmHWM (the kernel's own peak, which catches spikes between samples). Beside them, the same reading of
 * reference processes shows what any program started this way carries before its own code runs.
 */
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeBundleOptions } from "../scripts/bundle.ts"
import { repoRoot } from "../test/support/programs.ts"
import type { Program } from "./system.ts"

const kib = (status: string, field: "VmRSS" | "VmHWM") => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? undefined : Number(match[1])
}

const readKib = (pid: number, field: "VmRSS" | "VmHWM") => {
  try {
    return kib(fs.readFileSync(`/proc/${pid}/status`, "utf8"), field)
  } catch {
    return undefined // exited
  }
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10

/** Resident memory of a process, MB, or undefined when it is gone. */
export const rssMb = (pid: number) => {
  const kb = readKib(pid, "VmRSS")
  return kb === undefined ? undefined : mb(kb)
}

export interface Footprint {
  /** Peak RSS (MB) per phase, per program. */
  readonly phases: Record<string, Record<string, number>>
  /** The kernel's high-water mark per program over the whole run (MB). */
  readonly highWaterMb: Record<string, number>
  /** Reference processes (measureFloors), MB. */
  readonly floorsMb: Record<string, number>
  readonly targetMb: number
}

export const startSampler = (programs: ReadonlyArray<Program>, firstPhase: string, intervalMs = 200) => {
  const phases: Record<string, Record<string, number>> = {}
  let phase = firstPhase
  const sample = () => {
    const peaks = (phases[phase] ??= {})
    for (const { name, pid } of programs) {
      const value = rssMb(pid)
      if (value !== undefined) peaks[name] = Math.max(peaks[name] ?? 0, value)
    }
  }
  const timer = setInterval(sample, intervalMs)
  return {
    /** Starts a new phase (and samples at once, so short phases are seen). */
    phase: (name: string) => {
      sample()
      phase = name
      sample()
    },
    stop: (floorsMb: Record<string, number>): Footprint => {
      sample()
      clearInterval(timer)
      const highWaterMb: Record<string, number> = {}
      for (const { name, pid } of programs) {
        const kb = readKib(pid, "VmHWM")
        if (kb !== undefined) highWaterMb[name] = mb(kb)
      }
      return { phases, highWaterMb, floorsMb, targetMb: 150 }
    }
  }
}

/**
 * Floors measured the same way: bare Node, Node with the tsx loader, that plus the libraries the programs use, and
 * those libraries bundled the way `just up` runs the programs (scripts/bundle.ts).
 */
export const measureFloors = async (): Promise<Record<string, number>> => {
  const bundledProbe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cynode-bench-probe-")), "rssProbe.mjs")
  await esbuild.build({ ...nodeBundleOptions, entryPoints: ["bench/rssProbe.ts"], outfile: bundledProbe })
  const variants: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
    ["node", ["-e", "process.stdout.write('ready\\n'); setInterval(() => undefined, 60000)"]],
    ["node + tsx", ["--import", "tsx", "bench/rssProbe.ts"]],
    ["node + tsx + effect libraries", ["--import", "tsx", "bench/rssProbe.ts", "libs"]],
    ["node + effect libraries, bundled", [bundledProbe, "libs"]]
  ]
  const floors: Record<string, number> = {}
  for (const [name, args] of variants) {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`the ${name} probe exited (${code})`)))
      child.stdout.once("data", () => resolve())
    })
    await new Promise((r) => setTimeout(r, 2000)) // settle, like the programs' idle phase
    floors[name] = rssMb(child.pid!) ?? Number.NaN
    child.removeAllListeners("exit")
    child.kill("SIGKILL")
  }
  fs.rmSync(path.dirname(bundledProbe), { recursive: true, force: true })
  return floors
}
