import { Schema } from "effect"

/**
 * Files a task brings into its sandbox, and the relative paths of files it leaves (artifacts). A path is relative,
 * made of segments of letters, digits, '.', '_' and '-' (no '.' or '..' segment, none starting with '-'), at most 8
 * deep and 255 characters, so it can never leave the workspace or be read as an option. Content travels as base64
 * in the JSON contract: one request, one schema, the body limits that already apply (decisions.md "Files").
 */

export const MAX_INPUT_FILES = 16
export const MAX_INPUT_FILES_BYTES = 1024 * 1024

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

export const checkRelativePath = (path: string): true | string => {
  if (path.length === 0 || path.length > 255) return "must be 1-255 characters"
  const segments = path.split("/")
  if (segments.length > 8) return "must be at most 8 segments deep"
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === ".." || !SEGMENT.test(segment)) {
      return "must be a relative path of segments made of letters, digits, '.', '_' and '-' (no leading '/', '-', '.' or '..' segment)"
    }
  }
  return true
}

export const RelativePath = Schema.String.pipe(
  Schema.filter(checkRelativePath),
  Schema.annotations({ identifier: "RelativePath", description: "a relative path inside /workspace" })
)

/** Decoded size of a base64 text, without decoding it (works in the browser too). */
export const base64Bytes = (text: string): number =>
  Math.floor((text.length * 3) / 4) - (text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0)

export const Base64 = Schema.String.pipe(
  Schema.filter((s) => (s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s) ? true : "must be standard base64 (with padding)")),
  Schema.annotations({ identifier: "Base64" })
)

export const InputFile = Schema.Struct({
  path: RelativePath,
  content_base64: Base64
}).annotations({ identifier: "InputFile" })
export type InputFile = typeof InputFile.Type

/** Checks across files: distinct paths, no file where another needs a directory, the total size. */
const checkFiles = (files: ReadonlyArray<InputFile>): true | string => {
  const paths = new Set(files.map((f) => f.path))
  if (paths.size !== files.length) return "every file needs its own path"
  const clash = files.find((f) => files.some((g) => g.path.startsWith(`${f.path}/`)))
  if (clash !== undefined) return `${clash.path} is a file, so it cannot also be a directory of another file`
  const total = files.reduce((sum, f) => sum + base64Bytes(f.content_base64), 0)
  return total <= MAX_INPUT_FILES_BYTES ? true : `the files hold ${total} bytes; at most ${MAX_INPUT_FILES_BYTES} bytes in all`
}

export const InputFiles = Schema.Array(InputFile).pipe(
  Schema.maxItems(MAX_INPUT_FILES),
  Schema.filter(checkFiles),
  Schema.annotations({ identifier: "InputFiles" })
)
export type InputFiles = typeof InputFiles.Type
