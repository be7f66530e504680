import * as esbuild from "esbuild"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/programs.ts"

/**
 * Every client is built from the same contract the server implements (api/), and the web console compiles the
 * gateway's into its browser bundle: a contract must reach only other contracts and the wire shapes in schema/.
 * A Node built-in or a server module in its import graph fails here.
 */

/** The project's own files a browser bundle of `entry` pulls in. */
const bundledFiles = async (entry: string) => {
  const result = await esbuild.build({
    absWorkingDir: repoRoot,
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    outdir: "out",
    metafile: true,
    logLevel: "silent"
  })
  return Object.keys(result.metafile.inputs).filter((file) => !file.includes("node_modules"))
}

describe("the API contracts", () => {
  it.each(["api/gateway/GatewayApi.ts", "api/control-plane.ts", "api/worker.ts"])(
    "%s bundles for a browser without any server module",
    async (entry) => {
      const files = await bundledFiles(entry)
      expect(files.filter((file) => !/^(schema\/[^/]+\.ts|api\/.+\.ts)$/.test(file))).toEqual([])
    }
  )

  it("the task outcome helper the console shares with the CLI stays browser-safe too", async () => {
    const files = await bundledFiles("src/cli/TaskOutcome.ts")
    expect(files.filter((file) => !/^(schema\/[^/]+\.ts|src\/cli\/TaskOutcome\.ts)$/.test(file))).toEqual([])
  })
})
