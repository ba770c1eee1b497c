/**
 * Prompt token counts with the deployment's real tokenizer (offline, gpt-tokenizer). Chat framing
 * follows OpenAI's published rule (3 tokens per message, 1 per name, 3 to prime the reply), which
 * reproduces the API's own counts for the cookbook's reference conversation.
 */
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';

export type ContentPart =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image_url'; readonly image_url: { readonly url: string; readonly detail?: string } }
  | { readonly type: string; readonly [key: string]: unknown };

export interface PromptMessage {
  readonly role: string;
  readonly content?: string | readonly ContentPart[] | null;
  readonly name?: string;
  readonly tool_calls?: unknown;
  readonly tool_call_id?: string;
}

export interface PromptInput {
  readonly messages: readonly PromptMessage[];
  readonly tools?: unknown;
  readonly functions?: unknown;
  readonly response_format?: unknown;
}

export type Encoding = 'o200k_base' | 'cl100k_base';

const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMER = 3;
/** An image part, charged as a high-detail 1024×1024 image (85 base + 4 tiles × 170): a safe upper estimate. */
export const IMAGE_PART_TOKENS = 765;

const CL100K_MODELS = /^(gpt-35|gpt-3\.5|gpt-4(?![o.])|text-embedding)/i;

/** gpt-4o, gpt-4.1, gpt-5, o-series and newer use o200k; gpt-4 and gpt-3.5 use cl100k. */
export function encodingFor(model: string): Encoding {
  return CL100K_MODELS.test(model.trim()) ? 'cl100k_base' : 'o200k_base';
}

export function countTextTokens(text: string, model: string): number {
  // Text that spells a special token (`<|endoftext|>`) is ordinary text to Azure's count: never a throw.
  return (encodingFor(model) === 'cl100k_base' ? encodeCl100k : encodeO200k)(text, { disallowedSpecial: new Set() }).length;
}

export function countPromptTokens(input: PromptInput, model: string): number {
  const count = (text: string) => countTextTokens(text, model);
  let total = REPLY_PRIMER;
  for (const message of input.messages) {
    total += TOKENS_PER_MESSAGE + count(message.role);
    if (typeof message.content === 'string') total += count(message.content);
    else if (Array.isArray(message.content)) {
      for (const part of message.content as readonly ContentPart[]) {
        if (part.type === 'text' && typeof part.text === 'string') total += count(part.text);
        else if (part.type === 'image_url') total += IMAGE_PART_TOKENS;
        else total += count(JSON.stringify(part));
      }
    }
    if (message.name !== undefined) total += count(message.name) + TOKENS_PER_NAME;
    if (message.tool_calls !== undefined) total += count(JSON.stringify(message.tool_calls));
    if (message.tool_call_id !== undefined) total += count(message.tool_call_id);
  }
  // Tool and schema definitions are part of the prompt Azure counts.
  for (const extra of [input.tools, input.functions, input.response_format]) {
    if (extra !== undefined && extra !== null) total += count(JSON.stringify(extra));
  }
  return total;
}
