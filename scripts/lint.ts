/**
 * Project lint rules that tsc does not check. Kept small on purpose: typescript-eslint needs the JS compiler API,
 * which TypeScript 7 no longer ships (platform.md).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const root = new URL("..", import.meta.url).pathname
const roots = ["src", "schema", "layers", "test", "features", "bench", "scripts"]

const rules: ReadonlyArray<{ readonly name: string; readonly pattern: RegExp; readonly applies: (file: string) => boolean }> = [
  { name: "no `any` type", pattern: /(:\s*any\b|\bas any\b|<any>|Array<any>)/, applies: (f) => f.endsWith(".ts") && !f.endsWith("lint.ts") },
  { name: "no focused or skipped tests", pattern: /\b(it|test|describe)\.(only|skip|todo)\(|\bxit\(|\bxdescribe\(/, applies: (f) => f.endsWith(".ts") && !f.endsWith("lint.ts") },
  { name: "no skipped scenarios", pattern: /@(skip|wip|ignore)\b/, applies: (f) => f.endsWith(".feature") },
  { name: "no pending steps", pattern: /return\s+["']pending["']/, applies: (f) => f.endsWith(".ts") && !f.endsWith("lint.ts") },
  { name: "no console.log in services (use Effect logging)", pattern: /\bconsole\.log\(/, applies: (f) => /^(layers|src\/(control-plane|user-gateway|worker-api|node-manager))\//.test(f) }
]

const walk = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === "node_modules" || name.startsWith(".")) return []
    return statSync(path).isDirectory() ? walk(path) : [path]
  })

const problems: Array<string> = []
for (const top of roots) {
  let files: Array<string> = []
  try {
    files = walk(join(root, top))
  } catch {
    continue
  }
  for (const path of files) {
    const file = relative(root, path)
    const lines = readFileSync(path, "utf8").split("\n")
    for (const rule of rules) {
      if (!rule.applies(file)) continue
      lines.forEach((line, i) => {
        if (file.endsWith(".ts") && /^\s*(\*|\/\/|\/\*)/.test(line)) return // prose in comments is not code
        if (rule.pattern.test(line)) problems.push(`${file}:${i + 1}: ${rule.name}: ${line.trim()}`)
      })
    }
  }
}

if (problems.length > 0) {
  console.error(problems.join("\n"))
  console.error(`lint: ${problems.length} problem(s)`)
  process.exit(1)
}
console.log("lint: no problems")
