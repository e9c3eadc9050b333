/**
 * Byte-pair encoding as Hugging Face's BPE model runs it with end_of_word_suffix "</w>":
 * the last character of a word carries the suffix, then the lowest-ranked adjacent pair is
 * merged (leftmost first on ties) until no pair has a rank.
 */
export class Bpe {
  readonly #vocab: ReadonlyMap<string, number>;
  readonly #ranks: ReadonlyMap<string, number>;
  readonly #unkId: number;
  readonly #cache = new Map<string, readonly number[]>();
  static readonly CACHE_LIMIT = 20_000;

  constructor(vocab: ReadonlyMap<string, number>, merges: ReadonlyArray<readonly [string, string]>, unkId: number) {
    this.#vocab = vocab;
    const ranks = new Map<string, number>();
    merges.forEach(([a, b], rank) => {
      const key = `${a} ${b}`;
      if (!ranks.has(key)) ranks.set(key, rank);
    });
    this.#ranks = ranks;
    this.#unkId = unkId;
  }

  /** Token ids of one pre-tokenized, byte-level word. */
  encodeWord(word: string): readonly number[] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    const ids = this.#merge(word).map((symbol) => this.#vocab.get(symbol) ?? this.#unkId);
    if (this.#cache.size >= Bpe.CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, ids);
    return ids;
  }

  #merge(word: string): string[] {
    const symbols = Array.from(word);
    if (symbols.length === 0) return [];
    symbols[symbols.length - 1] += '</w>';
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.#ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) return symbols;
      symbols.splice(best, 2, symbols[best]! + symbols[best + 1]!);
    }
  }
}
