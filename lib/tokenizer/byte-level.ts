/**
 * GPT-2's byte-to-unicode table: every byte maps to a printable character, so BPE can
 * work on any UTF-8 text with a vocabulary of strings.
 */
function buildTable(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  const kept = new Set(keep);
  for (const b of keep) table[b] = String.fromCodePoint(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (!kept.has(b)) table[b] = String.fromCodePoint(256 + next++);
  }
  return table;
}

export const BYTE_TO_UNICODE: readonly string[] = buildTable();

const encoder = new TextEncoder();

/** The byte-level form of `text`: one character per UTF-8 byte. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += BYTE_TO_UNICODE[byte]!;
  return out;
}
