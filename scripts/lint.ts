/** `just lint` runs oxlint with .oxlintrc.json; this entry runs the same for callers that use `tsx scripts/lint.ts`. */
import { spawnSync } from "node:child_process"

const result = spawnSync("oxlint", ["--deny-warnings"], { stdio: "inherit", shell: false, env: { ...process.env, PATH: `node_modules/.bin:${process.env.PATH ?? ""}` } })
process.exit(result.status ?? 1)
