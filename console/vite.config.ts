import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"

/**
 * The console is built ahead (`just build`) into dist/ and served by the gateway at /console; nothing is fetched
 * at run time. `npx vite` in this folder serves it for development, passing the API through to a local gateway.
 */
const repoRoot = fileURLToPath(new URL("..", import.meta.url))

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  oxc: { jsx: { runtime: "automatic", importSource: "react" } },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: {
    fs: { allow: [repoRoot] },
    proxy: { "/v1": process.env.CYNODE_GATEWAY_URL ?? "http://127.0.0.1:12080" }
  }
})
