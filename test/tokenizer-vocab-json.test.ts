// vocab.json read in slices of the event loop: the same Map as JSON.parse gives, or a TokenizerError.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenizerError } from '../lib/errors.js';
import { Pacer } from '../lib/event-loop-pacer.js';
import { parseVocabJson } from '../lib/tokenizer/vocab-json.js';
import { sharedData, titled } from './support/shared-data.js';

const viaJsonParse = (text: string): Map<string, number> => new Map(Object.entries(JSON.parse(text) as Record<string, number>));
const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const files = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');

describe.skipIf(!files.available)(titled("CLIP's vocab.json", files), () => {
  it('gives every token and id JSON.parse gives', async () => {
    const text = readFileSync(join(files.path, 'vocab.json'), 'utf8');
    const scanned = await parseVocabJson('vocab.json', text, new Pacer());
    const reference = viaJsonParse(text);
    expect(scanned.size).toBe(49408);
    expect(sorted(scanned)).toEqual(sorted(reference));
  });
});

describe('parseVocabJson', () => {
  const parse = (text: string): Promise<Map<string, number>> => parseVocabJson('v.json', text, new Pacer());

  it('decodes escapes, whitespace and repeated keys as JSON.parse does', async () => {
    const cases = [
      '{}',
      ' \n{ } \n',
      '\uFEFF{"a": 1}',
      '{"a\\u0041": 1, "\\"q": 2, "x\\\\": 3, "\\n\\t\\/": 4, "é</w>": 5, "-": -6, "0": 0}',
      '{\n  "a": 1,\n  "b" :2 ,"a":3\n}\n',
      '{"\\ud83d\\ude00": 7, "😀x": 8}',
    ];
    for (const text of cases) {
      const expected = viaJsonParse(text.replace(/^\uFEFF/, ''));
      expect(sorted(await parse(text)), text).toEqual(sorted(expected));
    }
  });

  it('refuses what is not a flat token -> integer object, naming the file and the place', async () => {
    for (const text of ['', '[1]', '{"a": 1.5}', '{"a": "1"}', '{"a": 1,}', '{"a": 1} x', '{"a": 1', '{"a" 1}', '{a: 1}', '{"a": {"b": 1}}', '{"a\u0001": 1}', '{"a": 01}']) {
      await expect(parse(text), text).rejects.toThrow(TokenizerError);
    }
    await expect(parse('{"a": 1, "b": true}')).rejects.toThrow(/v\.json is not a token -> id JSON object \(at character 8: /);
  });

  it('yields to the event loop while it reads', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => `"t${i}": ${i}`);
    let ranDuring = false;
    const pacer = new Pacer(0);
    setImmediate(() => (ranDuring = true));
    const vocab = await parseVocabJson('big.json', `{${entries.join(',')}}`, pacer);
    expect(vocab.size).toBe(20_000);
    expect(vocab.get('t19999')).toBe(19_999);
    expect(ranDuring).toBe(true);
    expect(pacer.yields).toBeGreaterThan(10);
  });
});
