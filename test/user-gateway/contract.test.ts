import * as esbuild from "esbuild"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/programs.ts"

/**
 * The web console compiles the gateway's HttpApi definition into the browser bundle, so the contract (GatewayApi, its
 * groups and schemas) must not reach server code: a Node built-in or a server module in its import graph fails here.
 */
describe("the gateway contract", () => {
  it("bundles for a browser without any server module", async () => {
    const result = await esbuild.build({
      absWorkingDir: repoRoot,
      entryPoints: ["src/user-gateway/GatewayApi.ts", "src/cli/TaskOutcome.ts"],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      outdir: "out",
      metafile: true,
      logLevel: "silent"
    })
    const ours = Object.keys(result.metafile.inputs).filter((file) => !file.includes("node_modules"))
    const allowed = /^(schema\/[^/]+\.ts|src\/user-gateway\/[A-Za-z]+Api\.ts|src\/user-gateway\/AuthMiddleware\.ts|src\/cli\/TaskOutcome\.ts)$/
    expect(ours.filter((file) => !allowed.test(file))).toEqual([])
  })
})
