import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/** Browser tests: the whole system (scripts/up.ts) driven through Debian's Chromium with playwright-core. */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    // One system and one browser for the whole run: files share them in one process, one after another.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 240_000
  }
})
