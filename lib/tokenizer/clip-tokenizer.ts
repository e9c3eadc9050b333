/**
 * The CLIP BPE tokenizer of Stable Diffusion 1.x, reproducing Hugging Face's
 * CLIPTokenizer (tokenizers-backed, transformers 5.x) id for id:
 *   added tokens ('<|endoftext|>' matched case-sensitively in the raw text,
 *   '<|startoftext|>' in the normalised text) -> NFC, whitespace, lowercase ->
 *   CLIP's split regex -> byte level -> BPE with '</w>' -> BOS ... EOS.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TokenizerError } from '../errors.js';
import { forEachPaced, Pacer } from '../event-loop-pacer.js';
import { Bpe, mergeRanks, type MergeRanks } from './bpe.js';
import { parseVocabJson } from './vocab-json.js';
import { toByteLevel } from './byte-level.js';
import { normalizeClipText, WHITE_SPACE } from './normalize.js';

export const CLIP_MAX_LENGTH = 77;

// CLIP's pre-tokenizer regex (Split, behaviour Removed, inverted: keep the matches).
const CLIP_SPLIT = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${WHITE_SPACE}\\p{L}\\p{N}]+`,
  'gu',
);
// GPT-2's regex, which the ByteLevel pre-tokenizer applies to each piece (use_regex=true).
const GPT2_SPLIT = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WHITE_SPACE}\\p{L}\\p{N}]+|[${WHITE_SPACE}]+(?![^${WHITE_SPACE}])|[${WHITE_SPACE}]+`,
  'gu',
);

export interface ClipTokenizerConfig {
  vocab: ReadonlyMap<string, number>;
  merges: ReadonlyArray<readonly [string, string]>;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly vocabSize: number;
  readonly #bpe: Bpe;
  readonly #bosToken: string;
  readonly #eosToken: string;

  /**
   * Builds everything at once (about 40 ms of the JavaScript thread for CLIP's merges on a
   * slow core); `ClipTokenizer.create` does the same in slices of the event loop.
   */
  constructor(config: ClipTokenizerConfig, ranks?: MergeRanks) {
    const { vocab } = config;
    this.#bosToken = config.bosToken ?? '<|startoftext|>';
    this.#eosToken = config.eosToken ?? '<|endoftext|>';
    const id = (token: string): number => {
      const v = vocab.get(token);
      if (v === undefined) throw new TokenizerError(`the vocabulary has no '${token}' token`);
      return v;
    };
    this.bosId = id(this.#bosToken);
    this.eosId = id(this.#eosToken);
    this.padId = id(config.padToken ?? this.#eosToken);
    this.vocabSize = vocab.size;
    this.#bpe = new Bpe(vocab, config.merges, this.eosId, ranks);
  }

  /** The constructor's work, with the merge ranks built between turns of the event loop. */
  static async create(config: ClipTokenizerConfig, pacer: Pacer = new Pacer()): Promise<ClipTokenizer> {
    return new ClipTokenizer(config, await mergeRanks(config.merges, pacer));
  }

  /**
   * Reads a tokenizer folder: vocab.json + merges.txt (the diffusers `tokenizer/` layout),
   * or tokenizer.json alone.
   */
  static async fromDirectory(dir: string): Promise<ClipTokenizer> {
    const vocabFile = join(dir, 'vocab.json');
    const mergesFile = join(dir, 'merges.txt');
    const jsonFile = join(dir, 'tokenizer.json');
    if (existsSync(vocabFile) && existsSync(mergesFile)) {
      // Parsed in slices of the event loop: JSON.parse of CLIP's 1 MB vocab.json alone
      // holds the thread for ~30 ms.
      const pacer = new Pacer();
      const vocab = await parseVocabJson(vocabFile, await readFile(vocabFile, 'utf8'), pacer);
      const merges = await parseMergesTxt(await readFile(mergesFile, 'utf8'), pacer);
      return ClipTokenizer.create({ vocab, merges, ...(await specialTokens(dir)) }, pacer);
    }
    if (existsSync(jsonFile)) return ClipTokenizer.fromTokenizerJson(jsonFile, await readFile(jsonFile, 'utf8'));
    throw new TokenizerError(
      `no CLIP tokenizer in ${dir}: expected vocab.json + merges.txt or tokenizer.json (the tokenizer/ folder of the diffusers model)`,
    );
  }

  static fromTokenizerJson(file: string, text: string): ClipTokenizer {
    let json: { model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]> } };
    try {
      json = JSON.parse(text) as typeof json;
    } catch (err) {
      throw new TokenizerError(`${file} is not valid JSON`, { cause: err });
    }
    const model = json.model;
    if (model?.type !== 'BPE' || !model.vocab || !model.merges) throw new TokenizerError(`${file} does not hold a BPE model`);
    const merges = model.merges.map((m): [string, string] => {
      const pair = typeof m === 'string' ? m.split(' ') : m;
      if (pair.length !== 2) throw new TokenizerError(`${file}: bad merge ${JSON.stringify(m)}`);
      return [pair[0]!, pair[1]!];
    });
    return new ClipTokenizer({ vocab: new Map(Object.entries(model.vocab)), merges });
  }

  /** Ids of `text` with BOS and EOS, untruncated: tokenizer(text).input_ids. */
  encode(text: string): number[] {
    return [this.bosId, ...this.#encodeContent(text), this.eosId];
  }

  /**
   * Ids as diffusers passes them to the text encoder: BOS, the first maxLength - 2 tokens,
   * EOS, then padding with the pad id (padding="max_length", truncation=True).
   */
  encodePadded(text: string, maxLength = CLIP_MAX_LENGTH): Int32Array {
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new RangeError(`maxLength must be an integer >= 2, got ${maxLength}`);
    // Tokenizing stops once the kept tokens exist: the rest of a long prompt is cut anyway.
    const content = this.#encodeContent(text, maxLength - 2).slice(0, maxLength - 2);
    const out = new Int32Array(maxLength).fill(this.padId);
    out[0] = this.bosId;
    out.set(content, 1);
    out[content.length + 1] = this.eosId;
    return out;
  }

  /** Content ids of `text`; stops early once `limit` ids exist (the caller cuts the rest). */
  #encodeContent(text: string, limit = Number.POSITIVE_INFINITY): number[] {
    if (typeof text !== 'string') throw new TypeError('the prompt must be a string');
    const ids: number[] = [];
    // '<|endoftext|>' is matched in the raw text (its "normalized" flag is false).
    const raws = text.split(this.#eosToken);
    for (let i = 0; i < raws.length && ids.length < limit; i++) {
      if (i > 0) ids.push(this.eosId);
      // '<|startoftext|>' is matched after normalisation (so case-insensitively).
      const parts = normalizeClipText(raws[i]!).split(this.#bosToken);
      for (let j = 0; j < parts.length && ids.length < limit; j++) {
        if (j > 0) ids.push(this.bosId);
        for (const piece of parts[j]!.matchAll(CLIP_SPLIT)) {
          for (const sub of piece[0].matchAll(GPT2_SPLIT)) {
            for (const id of this.#bpe.encodeWord(toByteLevel(sub[0]))) ids.push(id);
            if (ids.length >= limit) return ids;
          }
        }
      }
    }
    return ids;
  }
}

async function parseMergesTxt(text: string, pacer: Pacer): Promise<Array<[string, string]>> {
  const merges: Array<[string, string]> = [];
  const lines = text.split('\n');
  await forEachPaced(
    lines.length,
    (i) => {
      const line = lines[i]!;
      if (line.startsWith('#version') || line.trim() === '') return;
      const parts = line.trimEnd().split(' ');
      if (parts.length === 2) merges.push([parts[0]!, parts[1]!]);
    },
    pacer,
  );
  return merges;
}

/** Special tokens from special_tokens_map.json when the folder has one. */
async function specialTokens(dir: string): Promise<Pick<ClipTokenizerConfig, 'bosToken' | 'eosToken' | 'padToken'>> {
  const file = join(dir, 'special_tokens_map.json');
  if (!existsSync(file)) return {};
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, string | { content?: string }>;
  const token = (key: string): string | undefined => {
    const v = json[key];
    return typeof v === 'string' ? v : v?.content;
  };
  const out: Pick<ClipTokenizerConfig, 'bosToken' | 'eosToken' | 'padToken'> = {};
  const bos = token('bos_token');
  const eos = token('eos_token');
  const pad = token('pad_token');
  if (bos) out.bosToken = bos;
  if (eos) out.eosToken = eos;
  if (pad) out.padToken = pad;
  return out;
}
