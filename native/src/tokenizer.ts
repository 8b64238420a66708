// umT5 tokenizer: google/umt5-xxl's tokenizer.json run by @huggingface/tokenizers (pure JS), with
// Wan's prompt cleaning, `</s>` appended, truncation to 511 pieces + `</s>`, padding with id 0 to
// exactly 512, and the attention mask — what wan/modules/tokenizers.py gets from
// `tokenizer(text, padding="max_length", truncation=True, max_length=512, add_special_tokens=True)`.
//
// Known limit of the JS library: its `Precompiled` normalizer (the real umt5 tokenizer.json uses one)
// applies NFKC plus SentencePiece's control/space rules instead of the stored charsmap; prompts whose
// characters the charsmap maps differently from NFKC can get different pieces than Python.
import { readFile } from "node:fs/promises";

import { Tokenizer } from "@huggingface/tokenizers";

import { cleanPrompt } from "./prompt.js";

export const TEXT_LEN = 512;

export interface TokenizedPrompt {
  /** The cleaned prompt (also the prompt-embedding cache key). */
  text: string;
  /** [TEXT_LEN] token ids: pieces, `</s>`, then 0 (`<pad>`). */
  ids: Int32Array;
  /** [TEXT_LEN] 1 for pieces and `</s>`, 0 for padding. */
  mask: Int32Array;
  /** Number of real tokens (ones in the mask), ≤ TEXT_LEN. */
  length: number;
}

export interface EncodeOptions {
  /** Apply Wan's prompt cleaning first (default true). */
  clean?: boolean;
  /** Sequence length (default 512). */
  length?: number;
}

export class UMT5Tokenizer {
  readonly eosId: number;
  readonly padId: number;

  private constructor(private readonly tok: Tokenizer) {
    const eos = tok.token_to_id("</s>");
    const pad = tok.token_to_id("<pad>");
    if (eos === undefined || pad === undefined) {
      throw new Error("tokenizer.json has no </s> or <pad> token; give the umT5 tokenizer.json of google/umt5-xxl");
    }
    this.eosId = eos;
    this.padId = pad;
  }

  /** Parses a tokenizer.json object (as read with JSON.parse). */
  static fromJSON(json: unknown): UMT5Tokenizer {
    if (typeof json !== "object" || json === null || !("model" in json)) {
      throw new Error("tokenizer: not a tokenizer.json (no `model`)");
    }
    return new UMT5Tokenizer(new Tokenizer(json, {}));
  }

  static async fromFile(path: string): Promise<UMT5Tokenizer> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      throw new Error(`tokenizer: cannot read ${path} (${(e as Error).message}); set checkpoints.tokenizer to google/umt5-xxl's tokenizer.json`);
    }
    return UMT5Tokenizer.fromJSON(JSON.parse(text));
  }

  /** Token ids of `text` without special tokens, no truncation. */
  pieces(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  encode(prompt: string, options: EncodeOptions = {}): TokenizedPrompt {
    const length = options.length ?? TEXT_LEN;
    if (!Number.isInteger(length) || length < 1) throw new Error(`tokenizer: length must be a positive integer, got ${length}`);
    const text = options.clean === false ? prompt : cleanPrompt(prompt);
    // Truncation keeps room for the `</s>` the post-processor appends, as the Rust tokenizer does.
    const kept = this.pieces(text).slice(0, length - 1);
    const ids = new Int32Array(length).fill(this.padId);
    const mask = new Int32Array(length);
    ids.set(kept);
    ids[kept.length] = this.eosId;
    mask.fill(1, 0, kept.length + 1);
    return { text, ids, mask, length: kept.length + 1 };
  }
}
