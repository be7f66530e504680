/**
 * The stand-in's one deterministic rule (documented in docs and the report):
 *   answer(model, prompt) = "CyNode stand-in (not Ollama) answering " + model + ": " + prompt
 * where `model` is the name exactly as requested and, for chat, `prompt` is the content of the last
 * message whose role is "user" ("" when there is none). Streams split the answer into fragments,
 * each a run of non-whitespace plus the whitespace after it, so the fragments concatenate to it.
 */

export const ANSWER_PREFIX = "CyNode stand-in (not Ollama) answering "

export const answerText = (model: string, prompt: string): string => `${ANSWER_PREFIX}${model}: ${prompt}`

/** Word-sized pieces; leading whitespace is its own piece so nothing is lost. */
export const fragments = (text: string): ReadonlyArray<string> => text.match(/\S+\s*|\s+/gu) ?? []

export interface ChatMessageLike {
  readonly role: string
  readonly content?: string | undefined
}

export const chatPrompt = (messages: ReadonlyArray<ChatMessageLike>): string =>
  messages.findLast((m) => m.role === "user")?.content ?? ""
