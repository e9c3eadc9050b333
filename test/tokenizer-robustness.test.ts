// Issue 15, item 6: one long word (a pasted base64 string, a URL) was tokenized in quadratic
// time, all of it, before the prompt was cut to 75 tokens. Work is counted here in rank and
// vocabulary look-ups (Map.prototype.get), not in milliseconds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Bpe } from '../lib/tokenizer/bpe.js';
import { toByteLevel } from '../lib/tokenizer/byte-level.js';
import { ClipTokenizer } from '../lib/tokenizer/index.js';
import { golden, readJson } from './support/golden.js';
import { sharedData, titled } from './support/shared-data.js';

const files = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const goldenIds = golden('tokenizer.json', 'CLIPTokenizer golden ids');

/** Map look-ups made while `fn` runs. */
function countLookups(fn: () => void): number {
  const spy = vi.spyOn(Map.prototype, 'get');
  try {
    fn();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/** A deterministic pseudo-random string over `alphabet` (xorshift32). */
function pseudoRandom(length: number, alphabet: string, seed: number): string {
  const chars = Array.from(alphabet);
  let x = seed >>> 0 || 1;
  let out = '';
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += chars[x % chars.length]!;
  }
  return out;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The merge loop as it landed (rescan every pair after every merge, lowest rank, leftmost
 * on ties), which matched Hugging Face on the golden prompts: the oracle for the heap.
 */
function quadraticMerge(word: string, ranks: Map<string, number>): string[] {
  const symbols = Array.from(word);
  if (symbols.length === 0) return [];
  symbols[symbols.length - 1] += '</w>';
  for (;;) {
    let best = -1;
    let bestRank = Number.POSITIVE_INFINITY;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return symbols;
    symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
  }
}

describe.skipIf(!files.available)(titled('tokenizer robustness (issue 15, item 6)', files), () => {
  let tokenizer: ClipTokenizer;
  let vocab: Map<string, number>;
  let merges: Array<[string, string]>;
  let ranks: Map<string, number>;

  beforeAll(async () => {
    tokenizer = await ClipTokenizer.fromDirectory(files.path);
    vocab = new Map(Object.entries(JSON.parse(readFileSync(join(files.path, 'vocab.json'), 'utf8')) as Record<string, number>));
    merges = readFileSync(join(files.path, 'merges.txt'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#version'))
      .map((l) => l.trimEnd().split(' ') as [string, string]);
    ranks = new Map();
    merges.forEach(([a, b], r) => ranks.has(`${a} ${b}`) || ranks.set(`${a} ${b}`, r));
  });

  it('the heap merge gives the same tokens as the landed merge loop on hundreds of words', () => {
    const bpe = new Bpe(vocab, merges, tokenizer.eosId);
    const words: string[] = [];
    if (goldenIds.available) {
      const cases = readJson<{ cases: Array<{ text: string }> }>(goldenIds.path).cases;
      for (const c of cases) words.push(...c.text.toLowerCase().split(/\s+/).filter(Boolean));
    }
    const alphabets = ['abcdefghijklmnopqrstuvwxyz', 'aeiou', 'ab', BASE64, 'абвгдеж', '日本語中文字漢', "!?.,:;'-_/()"];
    alphabets.forEach((alphabet, k) => {
      for (let len = 1; len <= 300; len += 7) words.push(pseudoRandom(len, alphabet, 17 + 31 * k + len));
    });
    for (const w of ['a'.repeat(257), 'ab'.repeat(100), 'aaab'.repeat(50), 'z'.repeat(3)]) words.push(w);
    expect(words.length).toBeGreaterThan(300);
    for (const w of words) {
      const bl = toByteLevel(w);
      const expected = quadraticMerge(bl, ranks).map((s) => vocab.get(s) ?? tokenizer.eosId);
      expect(bpe.encodeWord(bl), w).toEqual(expected);
    }
  });

  it('merging one word costs look-ups in proportion to its length, not its square', () => {
    const bpe = new Bpe(vocab, merges, tokenizer.eosId);
    const small = countLookups(() => bpe.encodeWord(pseudoRandom(500, BASE64, 1)));
    const large = countLookups(() => bpe.encodeWord(pseudoRandom(4000, BASE64, 2)));
    // 8x the letters: about 8x the look-ups in the heap; about 64x when every merge rescans.
    expect(large / small).toBeLessThan(16);
    expect(large).toBeLessThan(4000 * 20);
  });

  it('encodePadded stops tokenizing once 75 content tokens exist', () => {
    const text = `${'a '.repeat(100)}${pseudoRandom(3000, BASE64, 3)}`;
    const lookups = countLookups(() => tokenizer.encodePadded(text));
    // The 'a' word is merged once and cached; the 3000-letter word after it is never reached.
    expect(lookups).toBeLessThan(1000);
    const aId = vocab.get('a</w>')!;
    expect([...tokenizer.encodePadded(text)]).toEqual([tokenizer.bosId, ...new Array<number>(75).fill(aId), tokenizer.eosId]);
  });

  it('cut prompts keep exactly the ids of the untruncated encoding', () => {
    const prompts = [
      `a photo of ${pseudoRandom(16000, BASE64, 4)}`,
      pseudoRandom(1740, '日本語中文字漢', 5),
      `${'red fox, '.repeat(40)}<|endoftext|> tail`,
      `https://example.com/${pseudoRandom(2000, BASE64, 6)}?q=1`,
    ];
    for (const p of prompts) {
      const full = tokenizer.encode(p);
      const padded = [...tokenizer.encodePadded(p)];
      const kept = full.slice(1, -1).slice(0, 75);
      expect(padded.slice(0, kept.length + 2)).toEqual([tokenizer.bosId, ...kept, tokenizer.eosId]);
    }
  });
});
