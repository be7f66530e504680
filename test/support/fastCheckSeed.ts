import * as fc from "effect/FastCheck"

// A CI run must be repeatable: property tests use one fixed seed unless FC_SEED names another, or `FC_SEED=random`
// asks for a fresh one (printed by fast-check on a failure, so it can be replayed).
const seed = process.env["FC_SEED"] ?? "20261202"
if (seed !== "random") fc.configureGlobal({ seed: Number(seed) })
