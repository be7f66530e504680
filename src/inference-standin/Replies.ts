import { answerText, fragments } from "./Answer.ts"

/** Ollama-shaped reply objects for one completion: stream chunks, or the single `stream:false` object. */

export interface Completion {
  /** The model name exactly as requested (Ollama echoes it). */
  readonly model: string
  readonly prompt: string
}

export interface Timing {
  readonly created_at: string
  /** Nanoseconds, as Ollama reports durations. */
  readonly total_duration: number
}

export interface FinalStats {
  readonly done_reason: "stop"
  readonly total_duration: number
  readonly load_duration: number
  readonly prompt_eval_count: number
  readonly prompt_eval_duration: number
  readonly eval_count: number
  readonly eval_duration: number
}

interface ChunkBase {
  readonly model: string
  readonly created_at: string
  readonly done: boolean
}

export type GenerateChunk = ChunkBase & { readonly response: string } & Partial<FinalStats>
export type ChatChunk = ChunkBase & { readonly message: { readonly role: "assistant"; readonly content: string } } & Partial<FinalStats>

/** Counts are fragment counts (the stand-in's "tokens"); no load or prompt time is spent. */
const finalStats = (prompt: string, answer: string, timing: Timing): FinalStats => ({
  done_reason: "stop",
  total_duration: timing.total_duration,
  load_duration: 0,
  prompt_eval_count: fragments(prompt).length,
  prompt_eval_duration: 0,
  eval_count: fragments(answer).length,
  eval_duration: timing.total_duration
})

/** Stream: one `done:false` chunk per fragment, then a `done:true` chunk with empty content; else one object. */
const reply = <C>(
  content: (text: string) => C,
  completion: Completion,
  timing: Timing,
  stream: boolean
): ReadonlyArray<ChunkBase & C & Partial<FinalStats>> => {
  const answer = answerText(completion.model, completion.prompt)
  const base = { model: completion.model, created_at: timing.created_at }
  const last = { ...base, ...content(stream ? "" : answer), done: true, ...finalStats(completion.prompt, answer, timing) }
  return stream
    ? [...fragments(answer).map((f) => ({ ...base, ...content(f), done: false })), last]
    : [last]
}

export const generateReply = (completion: Completion, timing: Timing, stream: boolean): ReadonlyArray<GenerateChunk> =>
  reply((text) => ({ response: text }), completion, timing, stream)

export const chatReply = (completion: Completion, timing: Timing, stream: boolean): ReadonlyArray<ChatChunk> =>
  reply((text) => ({ message: { role: "assistant" as const, content: text } }), completion, timing, stream)
