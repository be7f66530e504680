import { describe, expect, it } from "@effect/vitest"
import { canonicalModelName, findModel, parseStandinModels } from "../../src/inference-standin/Models.ts"

describe("STANDIN_MODELS", () => {
  it("defaults to standin:latest when unset or blank", () => {
    expect(parseStandinModels(undefined)).toEqual(["standin:latest"])
    expect(parseStandinModels(" , ")).toEqual(["standin:latest"])
  })

  it("splits on commas, adds :latest, drops duplicates", () => {
    expect(parseStandinModels("standin, tiny:1b,standin:latest")).toEqual(["standin:latest", "tiny:1b"])
  })

  it("treats a registry port as part of the name, not a tag", () => {
    expect(canonicalModelName("registry:5000/team/model")).toBe("registry:5000/team/model:latest")
    expect(canonicalModelName("team/model:q4")).toBe("team/model:q4")
  })

  it("finds a requested model with or without its :latest tag", () => {
    const models = parseStandinModels("standin")
    expect(findModel(models, "standin")).toBe("standin:latest")
    expect(findModel(models, "standin:latest")).toBe("standin:latest")
    expect(findModel(models, "standin:7b")).toBeUndefined()
  })
})
