/**
 * Where the CPU goes, per phase of the run: CPU time (utime + stime from /proc/<pid>/stat) of each program, of the
 * embedded PostgreSQL (postmaster and its backends), and of the whole machine (/proc/stat), so that "everything
 * else" (the container engine, conmon, runc, the bench itself) is the remainder. Divided by the tasks a phase ran,
 * it says what one task costs and who pays. Short-lived processes (conmon, runc) land in `other`.
 */
import * as fs from "node:fs"
import type { Program } from "./system.ts"

const TICK_MS = 10 // USER_HZ is 100 on Linux

const statFields = (pid: number) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may hold spaces) start after the last ')'.
    return text.slice(text.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** CPU ms used so far by a process (0 when gone); `reaped` adds its exited, waited-for children (cutime, cstime). */
const processCpuMs = (pid: number, reaped = false) => {
  const f = statFields(pid)
  if (f === undefined) return 0
  const own = Number(f[11]) + Number(f[12]) // utime, stime (fields 14, 15)
  return (own + (reaped ? Number(f[13]) + Number(f[14]) : 0)) * TICK_MS
}

/** The container engine's API service, when it is a local process we can see (podman system service). */
export const findEngineService = (): number | undefined =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).find((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
      return argv.some((a) => a.endsWith("podman")) && argv.includes("system") && argv.includes("service")
    } catch {
      return false
    }
  })

const childrenOf = (parent: number) =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => Number(statFields(pid)?.[1]) === parent)

/** Busy CPU ms of the whole machine so far (all but idle and iowait). */
const machineCpuMs = () => {
  const [, ...values] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
  const n = values.map(Number)
  return (n.reduce((a, b) => a + b, 0) - (n[3] ?? 0) - (n[4] ?? 0)) * TICK_MS
}

export interface CpuPhases {
  /** CPU ms per phase: each program, `postgres`, `machine` (everything), `other` (machine minus the rest). */
  readonly phases: Record<string, Record<string, number>>
}

export const startCpuMeter = (programs: ReadonlyArray<Program>, postmasterPid: number | undefined, firstPhase: string) => {
  const read = () => {
    const values: Record<string, number> = {}
    for (const { name, pid } of programs) values[name] = processCpuMs(pid)
    if (postmasterPid !== undefined) {
      values.postgres = processCpuMs(postmasterPid, true) + childrenOf(postmasterPid).reduce((sum, pid) => sum + processCpuMs(pid), 0)
    }
    values.machine = machineCpuMs()
    return values
  }
  const phases: Record<string, Record<string, number>> = {}
  let phase = firstPhase
  let since = read()
  const close = () => {
    const now = read()
    const delta: Record<string, number> = {}
    for (const key of Object.keys(now)) delta[key] = Math.max(0, (now[key] ?? 0) - (since[key] ?? 0))
    delta.other = Math.max(0, (delta.machine ?? 0) - Object.entries(delta).reduce((sum, [k, v]) => (k === "machine" ? sum : sum + v), 0))
    // A phase may be entered many times (alternating batches): its figures add up.
    const total = (phases[phase] ??= {})
    for (const [k, v] of Object.entries(delta)) total[k] = (total[k] ?? 0) + v
    since = now
  }
  return {
    phase: (name: string) => {
      close()
      phase = name
    },
    stop: (): CpuPhases => {
      close()
      return { phases }
    }
  }
}
