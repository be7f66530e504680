/**
 * Task names (user-gateway.md §4): lower-case, runs outside `[a-z0-9]` become `-`, `-` trimmed, cut to 120
 * characters, so every name meets the identifier rule even with a `-NNN` clash suffix. No usable name ⇒
 * `task_name_NNN` (the caller's task count + 1).
 */
export const MAX_NAME_LENGTH = 120

export const normalizeTaskName = (raw: string): string | undefined => {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, MAX_NAME_LENGTH)
    .replace(/-+$/, "")
  return name === "" ? undefined : name
}

export const autoTaskName = (ordinal: number): string => `task_name_${String(ordinal).padStart(3, "0")}`

/** The first of `base`, `base-2`, `base-3`, … that is not taken. */
export const firstFreeName = (base: string, taken: ReadonlySet<string>): string => {
  if (!taken.has(base)) return base
  let n = 2
  while (taken.has(`${base}-${n}`)) n += 1
  return `${base}-${n}`
}
