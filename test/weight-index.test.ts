// The weight index parser (no runtime needed) and the loader's decoding of every record
// format, float16 included (with the real runtime, on the CPU).
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandBf16, loadWeights, parseWeightIndex, readWeightIndex } from '../lib/artifacts/index.js';
import { ArtifactError } from '../lib/index.js';
import * as tvm from '../lib/tvm/index.js';
import { testRuntime, titled } from './support/shared-data.js';

function index(records: unknown[], extra: Record<string, unknown> = {}, shardBytes = 64): string {
  return JSON.stringify({
    metadata: { clipParamSize: records.length },
    records: [{ dataPath: 'params_shard_0.bin', format: 'raw-shard', nbytes: shardBytes, records }],
    ...extra,
  });
}

const rec = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'clip_0',
  shape: [2, 2],
  dtype: 'float32',
  format: 'raw',
  nbytes: 16,
  byteOffset: 0,
  ...over,
});

describe('weight index', () => {
  it('parses shards, records and per-model counts', () => {
    const parsed = parseWeightIndex('/m/params/ndarray-cache.json', index([rec(), rec({ name: 'clip_1', byteOffset: 16, format: 'f32-to-bf16', nbytes: 8 })]));
    expect(parsed.paramCounts).toEqual({ clip: 2 });
    expect(parsed.dir).toBe('/m/params');
    expect(parsed.totalBytes).toBe(64);
    expect(parsed.shards[0]!.records.map((r) => r.format)).toEqual(['raw', 'f32-to-bf16']);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['truncated JSON', '{"metadata": {', /is not valid JSON/],
    ['no records', JSON.stringify({ metadata: {} }), /no "records" array/],
    ['bytes past the shard', index([rec({ byteOffset: 60 })]), /lie beyond the end of its shard \(64 bytes\)/],
    ['nbytes not matching the shape', index([rec({ nbytes: 12 })]), /nbytes 12 does not match shape \[2,2\]/],
    ['bf16 records of another dtype', index([rec({ format: 'f32-to-bf16', dtype: 'int32', nbytes: 8 })]), /f32-to-bf16 needs dtype float32/],
    ['an unknown dtype', index([rec({ dtype: 'complex64' })]), /unsupported dtype "complex64"/],
    ['an unknown format', index([rec({ format: 'zstd' })]), /unknown format "zstd"/],
    ['a negative offset', index([rec({ byteOffset: -4 })]), /byteOffset must be a non-negative integer/],
    ['a weight missing from the metadata count', index([rec()], { metadata: { clipParamSize: 2 } }), /record 'clip_1' is missing/],
    ['a path leaving the folder', JSON.stringify({ metadata: {}, records: [{ dataPath: '../x.bin', nbytes: 1, records: [] }] }), /bad dataPath/],
    ['a duplicate record', index([rec(), rec()], {}, 64), /appears twice/],
    // Issue 15, item 8: records sharing bytes of one shard loaded each other's data silently.
    ['overlapping records (item 8)', index([rec(), rec({ name: 'clip_1', byteOffset: 8 })]), /records 'clip_0' \(bytes 0\.\.16\) and 'clip_1' \(bytes 8\.\.24\) overlap in shard 0 \(params_shard_0\.bin\)/],
    ['a record inside another (item 8)', index([rec({ name: 'clip_0', shape: [4, 2], nbytes: 32 }), rec({ name: 'clip_1', byteOffset: 4, shape: [1], nbytes: 4 })]), /'clip_0' \(bytes 0\.\.32\) and 'clip_1' \(bytes 4\.\.8\) overlap/],
  ];
  for (const [what, text, message] of bad) {
    it(`reports ${what} by file name`, () => {
      expect(() => parseWeightIndex('/m/params/ndarray-cache.json', text)).toThrow(ArtifactError);
      expect(() => parseWeightIndex('/m/params/ndarray-cache.json', text)).toThrow(message);
      expect(() => parseWeightIndex('/m/params/ndarray-cache.json', text)).toThrow(/^\/m\/params\/ndarray-cache\.json: /);
    });
  }

  it('reports a folder without an index', async () => {
    await expect(readWeightIndex(mkdtempSync(join(tmpdir(), 'sd-mali-noidx-')))).rejects.toThrow(/ndarray-cache\.json: is missing \(looked for ndarray-cache\.json and tensor-cache\.json\)/);
  });

  it('expands bfloat16 to the float32 whose upper half it is', () => {
    const values = new Float32Array([1, -2.5, 0.15625, 3e38, -0]);
    const bits = new Uint32Array(values.buffer);
    const bf16 = new Uint8Array(values.length * 2);
    bits.forEach((b, i) => {
      bf16[2 * i] = (b >>> 16) & 0xff;
      bf16[2 * i + 1] = b >>> 24;
    });
    const back = new Uint32Array(expandBf16(bf16).buffer);
    back.forEach((b, i) => expect(b).toBe((bits[i]! & 0xffff0000) >>> 0));
  });
});

const runtimeInfo = testRuntime();

describe.skipIf(!runtimeInfo.available)(titled('weight loading of every record format', runtimeInfo), () => {
  it('loads raw float32, f32-to-bf16, raw float16 and raw int32 records onto the CPU', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-params-'));
    mkdirSync(join(dir, 'params'));
    const f32 = new Float32Array([1.5, -2, 3.25, 4]);
    const bf16 = new Uint16Array([0x3f80, 0xc020]); // 1, -2.5
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff]); // 1, -2, 65504
    const i32 = new Int32Array([7, -8]);
    const shard = Buffer.concat([Buffer.from(f32.buffer), Buffer.from(bf16.buffer), Buffer.from(f16.buffer), Buffer.from(new Uint8Array(2)), Buffer.from(i32.buffer)]);
    writeFileSync(join(dir, 'params', 'params_shard_0.bin'), shard);
    writeFileSync(
      join(dir, 'params', 'ndarray-cache.json'),
      JSON.stringify({
        metadata: { unetParamSize: 4 },
        records: [
          {
            dataPath: 'params_shard_0.bin',
            format: 'raw-shard',
            nbytes: shard.length,
            records: [
              { name: 'unet_0', shape: [4], dtype: 'float32', format: 'raw', nbytes: 16, byteOffset: 0 },
              { name: 'unet_1', shape: [2], dtype: 'float32', format: 'f32-to-bf16', nbytes: 4, byteOffset: 16 },
              { name: 'unet_2', shape: [3], dtype: 'float16', format: 'raw', nbytes: 6, byteOffset: 20 },
              { name: 'unet_3', shape: [2], dtype: 'int32', format: 'raw', nbytes: 8, byteOffset: 28 },
            ],
          },
        ],
      }),
    );
    const rt = tvm.loadRuntime({ library: runtimeInfo.path });
    const progress: number[] = [];
    const weights = await loadWeights(rt, rt.device('cpu'), await readWeightIndex(join(dir, 'params')), { onProgress: (p) => progress.push(p.loadedBytes), verifyChecksums: true });
    const [a, b, c, d] = weights.get('unet')!;
    expect((await a!.toTypedArrayAsync())).toEqual(f32);
    expect(b!.dtype).toBe('float32');
    expect((await b!.toTypedArrayAsync())).toEqual(new Float32Array([1, -2.5]));
    expect(c!.dtype).toBe('float16');
    expect((await c!.toTypedArrayAsync())).toEqual(f16);
    expect((await d!.toTypedArrayAsync())).toEqual(i32);
    expect(progress).toEqual([shard.length]);
    for (const w of weights.get('unet')!) w.dispose();
  });
});
