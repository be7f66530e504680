import { describe, expect, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import { inferenceBackendFor } from "../../src/control-plane/ConfigDelivery.ts"
import { NodeCapabilityReport } from "../../schema/node.ts"

const config = {
  inferenceModel: "standin:latest",
  inferenceImages: { cpu: Option.none(), cuda: Option.some("ollama/ollama:cuda"), rocm: Option.none() }
}

const report = (patch: Record<string, unknown>) =>
  Option.some(Schema.decodeUnknownSync(NodeCapabilityReport)({
    version: 1,
    reported_at: "2026-03-01T10:00:06Z",
    node: { node_slug: "node-01", labels: [] },
    inference: { supported: true, mode: "allow", existing_service: false, running: false },
    ...patch
  }))

const none = new Map<string, unknown>()
const backend = (patch: Record<string, unknown>, settings: ReadonlyMap<string, unknown> = none) =>
  inferenceBackendFor(report(patch), settings, config)

describe("inference_backend rules (control-plane.md §6)", () => {
  it("enables a cpu backend on an inference-capable node", () => {
    expect(backend({})).toEqual({ enabled: true, variant: "cpu", port: 11434, selected_model: "standin:latest" })
  })

  it("omits it for an existing service, mode disabled, unsupported inference, sandbox_only, or no report", () => {
    expect(backend({ inference: { supported: true, existing_service: true } })).toBeUndefined()
    expect(backend({ inference: { supported: true, mode: "disabled" } })).toBeUndefined()
    expect(backend({ inference: { supported: false } })).toBeUndefined()
    expect(backend({ inference: {} })).toBeUndefined()
    expect(backend({ node: { node_slug: "node-01", labels: ["sandbox_only"] } })).toBeUndefined()
    expect(inferenceBackendFor(Option.none(), none, config)).toBeUndefined()
  })

  it("honours node.inference.enabled=false unless the node requires inference", () => {
    const off = new Map<string, unknown>([["node.inference.enabled", false]])
    expect(backend({}, off)).toBeUndefined()
    expect(backend({ inference: { supported: true, mode: "require" } }, off)?.enabled).toBe(true)
  })

  it("picks rocm over cuda over cpu from GPU features, with the variant's image (setting beats env)", () => {
    const gpu = (features: Record<string, string>) => ({ gpu: { present: true, devices: [{ vendor: "x", features }] } })
    expect(backend(gpu({ cuda_capability: "8.6" }))).toMatchObject({ variant: "cuda", image: "ollama/ollama:cuda" })
    expect(backend({ gpu: { present: true, devices: [{ features: { cuda_capability: "8.6" } }, { features: { rocm_version: "6" } }] } }))
      .toMatchObject({ variant: "rocm" })
    expect(backend(gpu({ cuda_capability: "8.6" }), new Map([["node.inference.image.cuda", "local/cuda:1"]])))
      .toMatchObject({ image: "local/cuda:1" })
  })
})
