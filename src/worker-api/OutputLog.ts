import type { OutputStreamName } from "../../layers/ContainerRuntime.ts"
import type { OutputChunkLine } from "../../schema/worker.ts"

/**
 * A running job's live output, as numbered text chunks a follower can read from any point (`after`). Only the bytes
 * the output cap kept arrive here, so the log is bounded like the final result. Each stream has its own streaming
 * UTF-8 decoder: a code point split across reads is held back until its last byte comes, so every chunk is whole
 * text. Chunks nobody has read yet are merged, so a chatty job does not pile up tiny pieces.
 */
export class OutputLog {
  private readonly chunks: Array<{ seq: number; stream: OutputStreamName; text: string }> = []
  private readonly decoders = {
    stdout: new TextDecoder("utf-8", { fatal: false }),
    stderr: new TextDecoder("utf-8", { fatal: false })
  }
  private seq = 0
  /** Highest sequence number handed to a reader: chunks up to it are frozen. */
  private read = 0
  private listeners = new Set<() => void>()
  ended = false

  append(stream: OutputStreamName, bytes: Uint8Array): void {
    if (this.ended) return
    this.push(stream, this.decoders[stream].decode(bytes, { stream: true }))
  }

  /** The output is complete: flushes what the decoders held back and wakes every follower. */
  end(): void {
    if (this.ended) return
    this.push("stdout", this.decoders.stdout.decode())
    this.push("stderr", this.decoders.stderr.decode())
    this.ended = true
    this.notify()
  }

  /** Chunks after `after`, in order. */
  since(after: number): ReadonlyArray<OutputChunkLine> {
    const out = this.chunks.filter((c) => c.seq > after).map((c) => ({ ...c }))
    const last = out[out.length - 1]
    if (last !== undefined && last.seq > this.read) this.read = last.seq
    return out
  }

  /** Calls `listener` on the next change (new output or the end); returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private push(stream: OutputStreamName, text: string): void {
    if (text === "") return
    const last = this.chunks[this.chunks.length - 1]
    if (last !== undefined && last.stream === stream && last.seq > this.read) {
      last.text += text
    } else {
      this.chunks.push({ seq: ++this.seq, stream, text })
    }
    this.notify()
  }

  private notify(): void {
    const waiting = this.listeners
    this.listeners = new Set()
    for (const listener of waiting) listener()
  }
}
