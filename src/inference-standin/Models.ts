import { createHash } from "node:crypto"

/** The model catalogue the stand-in pretends to hold; nothing is ever downloaded. */

export const DEFAULT_MODELS = "standin:latest"

/** Ollama treats `name` as `name:latest`; a `:` before the last `/` is a registry port, not a tag. */
export const canonicalModelName = (name: string): string => {
  const trimmed = name.trim()
  const lastSegment = trimmed.slice(trimmed.lastIndexOf("/") + 1)
  return lastSegment.includes(":") ? trimmed : `${trimmed}:latest`
}

/** `STANDIN_MODELS`: comma-separated names; unset or blank means `standin:latest`. */
export const parseStandinModels = (value: string | undefined): ReadonlyArray<string> => {
  const names = (value ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "")
  return [...new Set((names.length === 0 ? [DEFAULT_MODELS] : names).map(canonicalModelName))]
}

/** The catalogue entry a requested name refers to, if any. */
export const findModel = (models: ReadonlyArray<string>, requested: string): string | undefined => {
  const wanted = canonicalModelName(requested)
  return models.find((m) => m === wanted)
}

/** Fixed so `/api/tags` is byte-for-byte stable across restarts. */
const MODIFIED_AT = "2025-01-01T00:00:00Z"

export interface TagsEntry {
  readonly name: string
  readonly model: string
  readonly modified_at: string
  readonly size: number
  readonly digest: string
  readonly details: {
    readonly parent_model: string
    readonly format: string
    readonly family: string
    readonly families: ReadonlyArray<string>
    readonly parameter_size: string
    readonly quantization_level: string
  }
}

/** One `/api/tags` entry; the digest is the SHA-256 of the canonical name, size 0 (there are no weights). */
export const tagsEntry = (name: string): TagsEntry => ({
  name,
  model: name,
  modified_at: MODIFIED_AT,
  size: 0,
  digest: createHash("sha256").update(name).digest("hex"),
  details: {
    parent_model: "",
    format: "cynode-standin",
    family: "cynode-standin",
    families: ["cynode-standin"],
    parameter_size: "0",
    quantization_level: "none"
  }
})
