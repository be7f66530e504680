import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import * as fc from "effect/FastCheck"
import { base64Bytes, checkRelativePath, InputFiles, MAX_INPUT_FILES_BYTES } from "../../schema/files.ts"

/** Input file paths and limits: nothing can name a place outside /workspace, and the caps hold. */

const decode = Schema.decodeUnknownEither(InputFiles)
const b64 = (s: string) => Buffer.from(s).toString("base64")

describe("input files", () => {
  it("refuses every path that could leave the workspace or pass as an option", () => {
    for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "./a", "a//b", "-rf", "a/-b", "a/", ".hidden", "a b", "a\\b"]) {
      expect(checkRelativePath(bad), bad).not.toBe(true)
    }
    for (const good of ["a", "in/data.txt", "x_1/y-2/z.tar.gz", "_a"]) expect(checkRelativePath(good), good).toBe(true)
  })

  it("never accepts a path whose segments could resolve outside (property)", () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (path) => {
      if (checkRelativePath(path) !== true) return
      expect(path.startsWith("/")).toBe(false)
      expect(path.split("/").some((s) => s === "" || s === "." || s === ".." || s.startsWith("-"))).toBe(false)
    }))
  })

  it("measures base64 like a decoder", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 50 }), (bytes) => {
      expect(base64Bytes(Buffer.from(bytes).toString("base64"))).toBe(bytes.length)
    }))
  })

  it("caps the count and the total size, and wants distinct paths that do not nest in a file", () => {
    expect(Either.isRight(decode([{ path: "a.txt", content_base64: b64("hi") }]))).toBe(true)
    expect(Either.isLeft(decode(Array.from({ length: 17 }, (_, i) => ({ path: `f${i}`, content_base64: "" }))))).toBe(true)
    const big = Buffer.alloc(MAX_INPUT_FILES_BYTES / 2 + 1).toString("base64")
    expect(Either.isLeft(decode([{ path: "a", content_base64: big }, { path: "b", content_base64: big }]))).toBe(true)
    expect(Either.isLeft(decode([{ path: "a", content_base64: "" }, { path: "a", content_base64: "" }]))).toBe(true)
    expect(Either.isLeft(decode([{ path: "a", content_base64: "" }, { path: "a/b", content_base64: "" }]))).toBe(true)
    expect(Either.isLeft(decode([{ path: "a", content_base64: "not base64!" }]))).toBe(true)
  })
})
