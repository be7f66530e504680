import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/fastCheckSeed.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
