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

# Type-check every TypeScript file.
typecheck:
    tsc --noEmit

# Project lint rules (no `any`, no focused or skipped tests, no secrets in logs by construction).
lint:
    tsx scripts/lint.ts

# Unit, property and integration tests (vitest; real PostgreSQL and real containers).
test: _runtime
    vitest run

# BDD scenarios (cucumber) against the real programs.
test-bdd: _runtime
    cucumber-js

# Parse every feature file; fail on undefined, pending or ambiguous steps.
validate-feature-files:
    cucumber-js --dry-run --format summary

# Everything CI checks.
ci: typecheck lint validate-feature-files images test test-bdd

# Ensure a container API service answers (starts a podman service when none does).
_runtime:
    ./scripts/podman-service.sh ensure
