import { describe, expect, it } from "@effect/vitest"
import { parseOllamaHost } from "../../src/inference-standin/Address.ts"

describe("OLLAMA_HOST", () => {
  it("defaults to all interfaces on 11434, as Ollama does", () => {
    expect(parseOllamaHost(undefined)).toEqual({ host: "0.0.0.0", port: 11434 })
    expect(parseOllamaHost("  ")).toEqual({ host: "0.0.0.0", port: 11434 })
  })

  it("accepts host, host:port, :port, [v6]:port and an http:// prefix", () => {
    expect(parseOllamaHost("127.0.0.1")).toEqual({ host: "127.0.0.1", port: 11434 })
    expect(parseOllamaHost("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 })
    expect(parseOllamaHost(":8080")).toEqual({ host: "0.0.0.0", port: 8080 })
    expect(parseOllamaHost("[::1]:11434")).toEqual({ host: "::1", port: 11434 })
    expect(parseOllamaHost("http://localhost:9000/")).toEqual({ host: "localhost", port: 9000 })
  })

  it("rejects what is not an address", () => {
    expect(parseOllamaHost("host:99999")).toBeUndefined()
    expect(parseOllamaHost("a:b:c")).toBeUndefined()
    expect(parseOllamaHost("host:port")).toBeUndefined()
  })
})
