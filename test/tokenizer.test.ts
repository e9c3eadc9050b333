// The CLIP tokenizer against Hugging Face's CLIPTokenizer (transformers 5.17 / tokenizers 0.23.2).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenizerError } from '../lib/errors.js';
import { bundledClipTokenizer, ClipTokenizer, clipVocabularyFromMerges, CLIP_VOCAB_SIZE } from '../lib/tokenizer/index.js';
import { parseMergeLines } from '../lib/tokenizer/bundled.js';
import { golden, readJson } from './support/golden.js';
import { sharedData, titled } from './support/shared-data.js';

interface TokenizerGolden {
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
  cases: Array<{ text: string; input_ids: number[]; full_ids: number[] }>;
}

const files = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ids = golden('tokenizer.json', 'CLIPTokenizer golden ids');
const ready = { ...ids, available: files.available && ids.available, reason: files.reason || ids.reason };

describe.skipIf(!ready.available)(titled('ClipTokenizer', ready), () => {
  const data = ready.available ? readJson<TokenizerGolden>(ids.path) : { cases: [] as TokenizerGolden['cases'], bos_token_id: 0, eos_token_id: 0, pad_token_id: 0 };
  let fromVocab: ClipTokenizer;
  let fromJson: ClipTokenizer;
  let bundled: ClipTokenizer;

  beforeAll(async () => {
    fromVocab = await ClipTokenizer.fromDirectory(files.path);
    bundled = await bundledClipTokenizer();
    const onlyJson = mkdtempSync(join(tmpdir(), 'sd-mali-tok-'));
    // A folder with tokenizer.json alone must work too: read it through fromTokenizerJson.
    fromJson = ClipTokenizer.fromTokenizerJson(join(onlyJson, 'tokenizer.json'), readFileSync(join(files.path, 'tokenizer.json'), 'utf8'));
  });

  it('has the special ids of the reference', () => {
    for (const tok of [fromVocab, fromJson, bundled]) {
      expect(tok.bosId).toBe(data.bos_token_id);
      expect(tok.eosId).toBe(data.eos_token_id);
      expect(tok.padId).toBe(data.pad_token_id);
    }
  });

  it(`gives the reference's full ids and padded ids for all ${data.cases.length} prompts (vocab.json + merges.txt)`, () => {
    const mismatches = data.cases.filter(
      (c) => JSON.stringify(fromVocab.encode(c.text)) !== JSON.stringify(c.full_ids) || JSON.stringify([...fromVocab.encodePadded(c.text)]) !== JSON.stringify(c.input_ids),
    );
    expect(mismatches.map((c) => c.text)).toEqual([]);
  });

  it('gives the same ids from tokenizer.json', () => {
    for (const c of data.cases) {
      expect(fromJson.encode(c.text)).toEqual(c.full_ids);
      expect([...fromJson.encodePadded(c.text)]).toEqual(c.input_ids);
    }
  });

  it('gives the same ids from the bundled merges', () => {
    const mismatches = data.cases.filter(
      (c) => JSON.stringify(bundled.encode(c.text)) !== JSON.stringify(c.full_ids) || JSON.stringify([...bundled.encodePadded(c.text)]) !== JSON.stringify(c.input_ids),
    );
    expect(mismatches.map((c) => c.text)).toEqual([]);
  });

  it("builds from the merges alone exactly the checkpoint's vocab.json, token for token and id for id", async () => {
    const reference = JSON.parse(readFileSync(join(files.path, 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = await parseMergeLines(readFileSync(join(files.path, 'merges.txt'), 'utf8'), 'merges.txt');
    const built = await clipVocabularyFromMerges(merges);
    expect(built.size).toBe(Object.keys(reference).length);
    const differing = Object.entries(reference).filter(([token, id]) => built.get(token) !== id);
    expect(differing).toEqual([]);
  });

  it('reports a folder without tokenizer files', async () => {
    await expect(ClipTokenizer.fromDirectory(mkdtempSync(join(tmpdir(), 'sd-mali-empty-')))).rejects.toThrow(TokenizerError);
  });
});

// These need nothing from ../shared: the tokenizer ships with the package.
describe('the bundled SD 1.x tokenizer', () => {
  let tok: ClipTokenizer;
  beforeAll(async () => {
    tok = await bundledClipTokenizer();
  });

  it(`has CLIP's ${CLIP_VOCAB_SIZE} tokens, the specials last`, () => {
    expect(tok.vocabSize).toBe(CLIP_VOCAB_SIZE);
    expect(tok.bosId).toBe(CLIP_VOCAB_SIZE - 2);
    expect(tok.eosId).toBe(CLIP_VOCAB_SIZE - 1);
    expect(tok.padId).toBe(tok.eosId);
  });

  it('pads and truncates to 77 keeping BOS and EOS', () => {
    const long = tok.encodePadded('a '.repeat(200));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(tok.bosId);
    expect(long[76]).toBe(tok.eosId);
    const empty = tok.encodePadded('');
    expect([...empty]).toEqual([tok.bosId, ...new Array<number>(76).fill(tok.padId)]);
    expect(tok.encodePadded('a photo', 8)).toHaveLength(8);
    expect(() => tok.encodePadded('x', 1)).toThrow(RangeError);
  });


  it('refuses a merges file that is not one pair a line, or that repeats a token', async () => {
    await expect(parseMergeLines('i n\nt h e\n', 'bad.txt')).rejects.toThrow(/bad\.txt: line 2 is not a merge/);
    await expect(parseMergeLines('in\n', 'bad.txt')).rejects.toThrow(TokenizerError);
    await expect(clipVocabularyFromMerges([['i', 'n'], ['i', 'n']])).rejects.toThrow(/makes 'in' twice/);
  });
});
