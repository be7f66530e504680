/** A server-sent event as a client sees it (the fields of one blank-line-terminated block). */
export interface SseEvent {
  readonly id: string | undefined
  readonly event: string
  readonly data: string
}

/**
 * Reads server-sent events from a response body as they arrive (the WHATWG event-stream rules the tests need:
 * `id`, `event`, multi-line `data`, comments ignored, a block without data dispatches nothing).
 */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder()
  let buffer = ""
  let fields: { id?: string; event?: string; data: Array<string> } = { data: [] }
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true })
    let newline: number
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      if (line === "") {
        if (fields.data.length > 0) yield { id: fields.id, event: fields.event ?? "message", data: fields.data.join("\n") }
        fields = { data: [] }
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":")
        const name = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "")
        if (name === "data") fields.data.push(value)
        else if (name === "id") fields.id = value
        else if (name === "event") fields.event = value
      }
    }
  }
}
