import * as path from "node:path"
import { repoRoot } from "../test/support/programs.ts"

/**
 * The environment that makes a program write a CPU profile when it exits (bench/cpuProfile.mjs), when
 * `CYNODE_BENCH_CPU_PROF` names a directory; nothing otherwise. Profiling slows the programs: figures of such a run
 * are not comparable.
 */
export const profileEnv = (dir = process.env.CYNODE_BENCH_CPU_PROF): Record<string, string> =>
  dir === undefined || dir === ""
    ? {}
    : { CYNODE_BENCH_CPU_PROF: dir, NODE_OPTIONS: `--import ${path.join(repoRoot, "bench/cpuProfile.mjs")}` }
