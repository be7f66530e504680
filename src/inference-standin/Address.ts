/** `OLLAMA_HOST` as Ollama reads it: `host`, `host:port`, `:port`, `[v6]:port`, optionally with `http://`. */

export interface ListenOn {
  readonly host: string
  readonly port: number
}

export const DEFAULT_OLLAMA_HOST = "0.0.0.0:11434"
const DEFAULT_PORT = 11434

/** Undefined when the value is not a usable address, so `main` can refuse to start with a clear message. */
export const parseOllamaHost = (value: string | undefined): ListenOn | undefined => {
  const raw = (value ?? "").trim() === "" ? DEFAULT_OLLAMA_HOST : (value ?? "").trim()
  const bare = raw.replace(/^https?:\/\//, "").replace(/\/+$/, "")
  const m = /^(?:\[([^\]]+)\]|([^:[\]/]*))(?::(\d{1,5}))?$/.exec(bare)
  if (!m) return undefined
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3])
  if (port > 65535) return undefined
  const host = m[1] ?? m[2] ?? ""
  return { host: host === "" ? "0.0.0.0" : host, port }
}
