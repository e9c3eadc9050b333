/**
 * Byte-pair encoding as Hugging Face's BPE model runs it with end_of_word_suffix "</w>":
 * the last character of a word carries the suffix, then the lowest-ranked adjacent pair is
 * merged (leftmost first on ties) until no pair has a rank.
 */
import { forEachPaced, type Pacer } from '../event-loop-pacer.js';

/** Merge ranks by "a b", the first occurrence of a pair winning (as Hugging Face does). */
export type MergeRanks = ReadonlyMap<string, number>;

function addRank(ranks: Map<string, number>, [a, b]: readonly [string, string], rank: number): void {
  const key = `${a} ${b}`;
  if (!ranks.has(key)) ranks.set(key, rank);
}

/** The ranks of CLIP's 48,894 merges, built in slices of the event loop (~40 ms at once on a slow core). */
export async function mergeRanks(merges: ReadonlyArray<readonly [string, string]>, pacer?: Pacer): Promise<MergeRanks> {
  const ranks = new Map<string, number>();
  await forEachPaced(merges.length, (i) => addRank(ranks, merges[i]!, i), pacer);
  return ranks;
}

export class Bpe {
  readonly #vocab: ReadonlyMap<string, number>;
  readonly #ranks: ReadonlyMap<string, number>;
  readonly #unkId: number;
  readonly #cache = new Map<string, readonly number[]>();
  static readonly CACHE_LIMIT = 20_000;

  /** `ranks`: the merges' ranks when already built (mergeRanks), else built here at once. */
  constructor(vocab: ReadonlyMap<string, number>, merges: ReadonlyArray<readonly [string, string]>, unkId: number, ranks?: MergeRanks) {
    this.#vocab = vocab;
    if (ranks === undefined) {
      const built = new Map<string, number>();
      merges.forEach((pair, rank) => addRank(built, pair, rank));
      ranks = built;
    }
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

  /**
   * The merges of one word, lowest rank first and leftmost on ties, as Hugging Face's
   * Word::merge_all does them: candidate pairs wait in a heap ordered by (rank, position),
   * symbols form a linked list, and a popped pair that no longer exists is skipped. Each
   * merge costs O(log n), so a 16,000-character word (a pasted base64 string) takes
   * milliseconds instead of rescanning every pair after every merge (quadratic: seconds).
   */
  #merge(word: string): string[] {
    const symbols = Array.from(word);
    const n = symbols.length;
    if (n === 0) return [];
    symbols[n - 1] += '</w>';
    if (n === 1) return symbols;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new PairHeap();
    const rankAt = (i: number): number | undefined => {
      const j = next[i]!;
      return j < 0 ? undefined : this.#ranks.get(`${symbols[i]} ${symbols[j]}`);
    };
    const offer = (i: number): void => {
      const rank = rankAt(i);
      if (rank !== undefined) heap.push(rank, i);
    };
    for (let i = 0; i + 1 < n; i++) offer(i);
    while (heap.size > 0) {
      const { rank, pos } = heap.pop();
      // Stale: the left symbol was merged into its neighbour, or the pair changed. Ranks
      // are unique per pair, so an equal rank means the same pair.
      if (!alive[pos] || rankAt(pos) !== rank) continue;
      const right = next[pos]!;
      symbols[pos] += symbols[right]!;
      alive[right] = 0;
      next[pos] = next[right]!;
      if (next[pos]! >= 0) prev[next[pos]!] = pos;
      if (prev[pos]! >= 0) offer(prev[pos]!);
      offer(pos);
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(symbols[i]!);
    return out;
  }
}

/** A binary min-heap of (rank, position) pairs, ordered by rank, then position. */
class PairHeap {
  #ranks: number[] = [];
  #positions: number[] = [];

  get size(): number {
    return this.#ranks.length;
  }

  push(rank: number, pos: number): void {
    const ranks = this.#ranks;
    const positions = this.#positions;
    let i = ranks.length;
    ranks.push(rank);
    positions.push(pos);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(rank, pos, ranks[parent]!, positions[parent]!)) break;
      ranks[i] = ranks[parent]!;
      positions[i] = positions[parent]!;
      i = parent;
    }
    ranks[i] = rank;
    positions[i] = pos;
  }

  pop(): { rank: number; pos: number } {
    const ranks = this.#ranks;
    const positions = this.#positions;
    const top = { rank: ranks[0]!, pos: positions[0]! };
    const lastRank = ranks.pop()!;
    const lastPos = positions.pop()!;
    const n = ranks.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.#less(ranks[r]!, positions[r]!, ranks[l]!, positions[l]!) ? r : l;
      if (!this.#less(ranks[child]!, positions[child]!, lastRank, lastPos)) break;
      ranks[i] = ranks[child]!;
      positions[i] = positions[child]!;
      i = child;
    }
    ranks[i] = lastRank;
    positions[i] = lastPos;
    return top;
  }

  #less(rankA: number, posA: number, rankB: number, posB: number): boolean {
    return rankA < rankB || (rankA === rankB && posA < posB);
  }
}
