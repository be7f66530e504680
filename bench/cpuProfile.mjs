// Preloaded with NODE_OPTIONS="--import …/bench/cpuProfile.mjs" when CYNODE_BENCH_CPU_PROF names a directory
// (Node refuses --cpu-prof in NODE_OPTIONS): profiles the whole process and writes
// <dir>/<program>-<pid>.cpuprofile when it exits (open it in Chrome DevTools or speedscope).
import * as fs from "node:fs"
import { Session } from "node:inspector"
import * as path from "node:path"

const dir = process.env.CYNODE_BENCH_CPU_PROF
if (dir !== undefined && dir !== "") {
  const session = new Session()
  session.connect()
  session.post("Profiler.enable")
  session.post("Profiler.start")
  const script = process.argv[1] ?? "node"
  const name = path.basename(path.dirname(script)) + "-" + path.basename(script, path.extname(script))
  process.once("exit", () => {
    // The in-process session answers synchronously, so this completes inside the exit handler.
    session.post("Profiler.stop", (error, result) => {
      if (error === null) fs.writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
