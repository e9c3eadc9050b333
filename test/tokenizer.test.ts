// The CLIP tokenizer against Hugging Face's CLIPTokenizer (transformers 5.17 / tokenizers 0.23.2).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenizerError } from '../lib/errors.js';
import { ClipTokenizer } from '../lib/tokenizer/index.js';
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

  beforeAll(async () => {
    fromVocab = await ClipTokenizer.fromDirectory(files.path);
    const onlyJson = mkdtempSync(join(tmpdir(), 'sd-mali-tok-'));
    // A folder with tokenizer.json alone must work too: read it through fromTokenizerJson.
    fromJson = ClipTokenizer.fromTokenizerJson(join(onlyJson, 'tokenizer.json'), readFileSync(join(files.path, 'tokenizer.json'), 'utf8'));
  });

  it('has the special ids of the reference', () => {
    for (const tok of [fromVocab, fromJson]) {
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

  it('pads and truncates to 77 keeping BOS and EOS', () => {
    const long = fromVocab.encodePadded('a '.repeat(200));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(fromVocab.bosId);
    expect(long[76]).toBe(fromVocab.eosId);
    const empty = fromVocab.encodePadded('');
    expect([...empty]).toEqual([fromVocab.bosId, ...new Array<number>(76).fill(fromVocab.padId)]);
    expect(fromVocab.encodePadded('a photo', 8)).toHaveLength(8);
    expect(() => fromVocab.encodePadded('x', 1)).toThrow(RangeError);
  });

  it('reports a folder without tokenizer files', async () => {
    await expect(ClipTokenizer.fromDirectory(mkdtempSync(join(tmpdir(), 'sd-mali-empty-')))).rejects.toThrow(TokenizerError);
  });
});
