# CyNode task runner. `just --list` shows the recipes; `just ci` runs every check.
set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/node_modules/.bin:" + env_var("PATH")

default:
    @just --list

# Install system packages (podman, runc, busybox-static) when missing, npm dependencies, and the local images.
setup:
    ./scripts/bootstrap.sh setup

# Build the local sandbox and inference stand-in images (idempotent; fast when nothing changed).
images:
    ./scripts/images.sh

# Type-check every TypeScript file (the console's browser code and its tests under their own settings).
typecheck:
    tsc --noEmit
    tsc -p console/tsconfig.json
    tsc -p console/tsconfig.node.json

# oxlint (.oxlintrc.json): correctness rules, no `any`, no focused or disabled tests, no console in services.
lint:
    oxlint --deny-warnings

# Unit, property and integration tests (vitest; real PostgreSQL and real containers).
test: _runtime
    vitest run

# BDD scenarios (cucumber) against the real programs, except the end-to-end suite (`just e2e`).
test-bdd: _runtime
    cucumber-js --tags 'not @e2e'

# End-to-end scenarios (features/e2e): the whole system started by scripts/up.ts, used over HTTP and through the CLI.
e2e: _runtime images
    cucumber-js --tags @e2e

# Bundle control-plane, user-gateway and node-manager into .cynode/dist/<program>.mjs (esbuild), and build the web
# console into console/dist (Vite; the gateway serves it at /console). Each is skipped when nothing it is built from
# changed; `just up` does this itself; `just build --force` rebuilds regardless.
build *args:
    tsx scripts/bundle.ts {{args}}
    ./scripts/console-build.sh {{args}}

# Pictures of every console page at a laptop and a phone width, written to docs/console/ (the README shows them).
console-screenshots: _runtime images
    ./scripts/console-build.sh
    tsx console/scripts/screenshots.ts

# Browser tests of the web console: the whole system (as `just up` starts it) driven through Debian's Chromium.
console-test: _runtime images
    ./scripts/console-build.sh
    vitest run --config console/vitest.config.ts

# Start CyNode on this machine: embedded PostgreSQL, user gateway :12080, control plane :12082, one node (worker API
# :12090) with the inference stand-in; `just up --nodes N` starts N nodes (worker APIs :12090…, the first with
# inference). Prints where everything listens and how to log in; Ctrl-C stops everything.
# A failed node is reported and the rest stays up; `just up --exit-on-failure` stops everything instead.
up *args: _runtime images
    ./scripts/console-build.sh
    tsx scripts/up.ts {{args}}

# Start CyNode, run a sandbox task and a prompt task through the CLI, print their results, and stop.
demo: _runtime images
    tsx scripts/up.ts --demo --exit

# Benchmarks against the container floor and the original design (bench/README.md); `just bench --quick` for a
# CI-sized run. Prints a table, writes bench/results.json (results-quick.json) and the latency plot.
bench *args: _runtime images
    tsx bench/run.ts {{args}}

# Fuzz every POST endpoint of the control plane, the user gateway and the worker API: FUZZ_COUNT (default 10000)
# generated requests each from FUZZ_SEED (printed; set it to repeat a run). No 5xx, no hang, healthy afterwards.
fuzz: _runtime
    tsx scripts/fuzz.ts

# The live-output figure alone (bench/streamingRun.ts): sandbox line → following client p50/p95, CPU per MB streamed.
bench-streaming: _runtime images
    tsx bench/streamingRun.ts

# Parse every feature file; fail on undefined, pending or ambiguous steps.
validate-feature-files:
    cucumber-js --dry-run --format summary

# Fault injection on the real programs (own ports, database and Podman service): kill -9 of a control plane, of the
# node's worker, of the Podman service, a full workspace disk, 1,000 tasks 50 at a time; prints a table per scenario.
# `just faults --quick` is the CI-sized run; name scenarios to run only those.
faults *args: _runtime images
    tsx test/faults/run.ts {{args}}

# The CI-sized fault run (a few minutes).
faults-quick: _runtime images
    tsx test/faults/run.ts --quick

# Everything CI checks.
ci: typecheck lint validate-feature-files images test test-bdd e2e console-test faults-quick

# Ensure a container API service answers (starts a podman service when none does).
_runtime:
    ./scripts/podman-service.sh ensure
