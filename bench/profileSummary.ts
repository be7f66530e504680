/**
 * Where a program's CPU time went, from a .cpuprofile (bench/cpuProfile.mjs writes them with
 * CYNODE_BENCH_CPU_PROF=<dir>): self time grouped by package (or our own directory), and the top functions.
 *
 *   tsx bench/profileSummary.ts <file.cpuprofile> [--top 25]
 */
import * as fs from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** node_modules/<pkg> (scoped too), our top-level directory, node's internals, or the VM's pseudo-frames. */
export const groupOf = (url: string, functionName: string) => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  if (url.startsWith("node:")) return "node:internal"
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (module !== null) return module[1]!
  const own = /\/work\/[^/]+\/([^/]+)\//.exec(url) ?? /file:\/\/.*?\/(src|layers|schema|scripts|bench)\//.exec(url)
  return own !== null ? `ours: ${own[1]}` : url
}

export const summarize = (profile: Profile, top: number) => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const groups = new Map<string, number>()
  const functions = new Map<string, number>()
  let busy = 0
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === "(idle)") continue
    busy += us
    const group = groupOf(frame.url, frame.functionName)
    groups.set(group, (groups.get(group) ?? 0) + us)
    const fn = `${frame.functionName || "(anonymous)"} ${group}${frame.url !== "" ? `:${frame.lineNumber + 1}` : ""}`
    functions.set(fn, (functions.get(fn) ?? 0) + us)
  }
  const sorted = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: Math.round(us / 1000), share: Math.round((us / busy) * 1000) / 10 }))
  return { busyMs: Math.round(busy / 1000), groups: sorted(groups), functions: sorted(functions) }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write("usage: tsx bench/profileSummary.ts <file.cpuprofile> [--top 25]\n")
    process.exit(2)
  }
  const topAt = process.argv.indexOf("--top")
  const s = summarize(JSON.parse(fs.readFileSync(file, "utf8")) as Profile, topAt > 0 ? Number(process.argv[topAt + 1]) : 25)
  console.log(`${file}: ${s.busyMs} ms on CPU (idle excluded)\n\nby package:`)
  for (const g of s.groups) console.log(`  ${String(g.share).padStart(5)}%  ${String(g.ms).padStart(7)} ms  ${g.name}`)
  console.log("\nby function (self time):")
  for (const f of s.functions) console.log(`  ${String(f.share).padStart(5)}%  ${String(f.ms).padStart(7)} ms  ${f.name}`)
}
