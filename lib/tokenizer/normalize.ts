/**
 * CLIP's text normalisation as the SD tokenizer.json defines it: NFC, runs of whitespace
 * to one space, then lowercase, with the semantics of Hugging Face tokenizers (Rust):
 *  - whitespace is Unicode White_Space (JavaScript's \s also counts U+FEFF, Rust's does not,
 *    and Rust's counts U+0085, JavaScript's does not);
 *  - lowercasing maps each character on its own, so a final Σ becomes σ, not ς.
 */

/** Unicode White_Space, the set Rust's regex `\s` uses. */
export const WHITE_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RUN = new RegExp(`[${WHITE_SPACE}]+`, 'gu');

const lowerCache = new Map<string, string>();

function lowerChar(ch: string): string {
  let lower = lowerCache.get(ch);
  if (lower === undefined) {
    lower = ch.toLowerCase(); // one character alone: no Final_Sigma context
    lowerCache.set(ch, lower);
  }
  return lower;
}

export function lowercasePerCharacter(text: string): string {
  // Fast path: most prompts are ASCII.
  if (/^[\x00-\x7f]*$/.test(text)) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += lowerChar(ch);
  return out;
}

export function normalizeClipText(text: string): string {
  return lowercasePerCharacter(text.normalize('NFC').replace(WHITESPACE_RUN, ' '));
}
