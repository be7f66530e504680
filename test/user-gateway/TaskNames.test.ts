import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { isIdentifier } from "../../schema/ids.ts"
import { autoTaskName, firstFreeName, normalizeTaskName } from "../../src/user-gateway/TaskNames.ts"

describe("task names", () => {
  it("normalizes requested names", () => {
    expect(normalizeTaskName("My Task!")).toBe("my-task")
    expect(normalizeTaskName("  --Hello__World--  ")).toBe("hello-world")
    expect(normalizeTaskName("e2e-task-name")).toBe("e2e-task-name")
    expect(normalizeTaskName("!!!")).toBeUndefined()
    expect(normalizeTaskName(`${"a".repeat(119)}-b`)).toBe("a".repeat(119))
  })

  it("numbers automatic names and clashes", () => {
    expect(autoTaskName(1)).toBe("task_name_001")
    expect(autoTaskName(1234)).toBe("task_name_1234")
    expect(firstFreeName("x", new Set())).toBe("x")
    expect(firstFreeName("x", new Set(["x", "x-2", "x-4"]))).toBe("x-3")
  })

  it.prop("every normalized name, with a clash suffix, meets the identifier rule", [fc.string({ maxLength: 300 })], ([raw]) => {
    const name = normalizeTaskName(raw)
    if (name !== undefined) {
      expect(isIdentifier(name)).toBe(true)
      expect(isIdentifier(`${name}-9999`)).toBe(true)
    }
  })
})
