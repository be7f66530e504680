import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { sseParser } from "../../src/cli/Follow.ts"
import { sseEvent } from "../../src/user-gateway/TasksHttp.ts"

/** The SSE framing both ends agree on: what the gateway writes, the CLI reads back unchanged. */

const parseAll = (text: string) => {
  const parse = sseParser()
  return text.split("\n").flatMap((line) => Option.toArray(parse(line)))
}

describe("Server-Sent Events of a followed task", () => {
  it("round-trips any output text, newlines and carriage returns included", () => {
    const texts = ["plain\n", "two\nlines\n", "cr\r\nlf", "", "data: fake\n\nid: 99\n", "ü€😀"]
    const wire = texts.map((text, i) => sseEvent({ _tag: "Output", id: i + 1, stream: "stdout", text }, "all")).join("")
    const events = parseAll(wire)
    expect(events.map((e) => e.id)).toEqual(texts.map((_, i) => String(i + 1)))
    expect(events.map((e) => e.event)).toEqual(texts.map(() => "stdout"))
    expect(events.map((e) => JSON.parse(e.data).text)).toEqual(texts)
  })

  it("ends with an end event; keep-alives are comments; a filtered stream still moves the resume point", () => {
    const wire = [
      sseEvent({ _tag: "KeepAlive" }, "all"),
      sseEvent({ _tag: "Output", id: 7, stream: "stderr", text: "hidden" }, "stdout"),
      sseEvent({ _tag: "End", end: { status: "failed", exit_code: 3 } }, "stdout")
    ].join("")
    const events = parseAll(wire)
    expect(events).toEqual([
      { id: "7", event: "message", data: "" },
      { id: undefined, event: "end", data: JSON.stringify({ status: "failed", exit_code: 3 }) }
    ])
  })
})
