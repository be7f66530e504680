#!/usr/bin/env node
// The `cynode` package bin: registers tsx in this process and runs the TypeScript CLI directly (no build step).
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
