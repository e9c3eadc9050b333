// The native weight loader: its bf16 expansion against the JavaScript reference, every
// record format on every test device, and cleanup after an abort or a damaged shard
// (device memory back to where it was, nothing made from a shard that fails its check).
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandBf16, loadWeights, readWeightIndex, type ModelWeights } from '../lib/artifacts/index.js';
import { AbortError, ArtifactError } from '../lib/index.js';
import * as tvm from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { testRuntime, titled } from './support/shared-data.js';

describe('native bf16 expansion', () => {
  const { expandBf16: native } = nativeBinding();

  // Lengths around the kernel's 32-element blocks; offsets that misalign the source.
  for (const count of [0, 1, 2, 3, 31, 32, 33, 63, 65, 1000, 65_537]) {
    for (const srcOffset of [0, 1, 3]) {
      it(`matches the JavaScript reference bit for bit: ${count} values at source offset ${srcOffset}`, () => {
        const backing = randomBytes(srcOffset + 2 * count + 5); // every bit pattern: NaNs, infinities, denormals
        const src = new Uint8Array(backing.buffer, backing.byteOffset + srcOffset, 2 * count);
        const dstBacking = new Uint32Array(count + 3).fill(0xdeadbeef);
        const dst = dstBacking.subarray(1, 1 + count); // an odd element offset
        native(src, dst);
        const reference = new Uint32Array(expandBf16(src.slice()).buffer);
        expect(dst).toEqual(reference);
        expect(dstBacking[0]).toBe(0xdeadbeef);
        expect(dstBacking[count + 1]).toBe(0xdeadbeef);
      });
    }
  }

  it('refuses a destination of the wrong size, the wrong types and overlapping buffers', () => {
    expect(() => native(new Uint8Array(6), new Uint32Array(2))).toThrow(tvm.InvalidArgumentError);
    expect(() => native(new Uint16Array(2) as unknown as Uint8Array, new Uint32Array(2))).toThrow(tvm.InvalidArgumentError);
    expect(() => native(new Uint8Array(4), new Int32Array(2) as unknown as Uint32Array)).toThrow(tvm.InvalidArgumentError);
    const shared = new ArrayBuffer(64);
    expect(() => native(new Uint8Array(shared, 0, 16), new Uint32Array(shared, 16, 8))).not.toThrow();
    expect(() => native(new Uint8Array(shared, 8, 16), new Uint32Array(shared, 0, 8))).toThrow(/overlap/);
  });
});

const runtimeInfo = testRuntime();

interface TestRecord {
  shape: number[];
  dtype: string;
  format: 'raw' | 'f32-to-bf16';
  /** The stored bytes, or a length of zeros (written as a hole: no large buffers in this process). */
  bytes: Uint8Array | number;
}

const byteLength = (r: TestRecord): number => (typeof r.bytes === 'number' ? r.bytes : r.bytes.byteLength);

/** Writes params/ with one shard per entry; each shard holds the given records' bytes back to back. */
function writeParams(shards: TestRecord[][]): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'sd-mali-loader-')), 'params');
  mkdirSync(dir);
  let n = 0;
  const records = shards.map((recs, k) => {
    let offset = 0;
    const out = recs.map((r) => {
      const rec = { name: `unet_${n++}`, shape: r.shape, dtype: r.dtype, format: r.format, nbytes: byteLength(r), byteOffset: offset };
      offset += byteLength(r);
      return rec;
    });
    const fd = openSync(join(dir, `params_shard_${k}.bin`), 'w');
    recs.forEach((r, i) => {
      if (typeof r.bytes !== 'number') writeSync(fd, r.bytes, 0, r.bytes.byteLength, out[i]!.byteOffset);
    });
    closeSync(fd);
    truncateSync(join(dir, `params_shard_${k}.bin`), offset);
    return { dataPath: `params_shard_${k}.bin`, format: 'raw-shard', nbytes: offset, records: out };
  });
  writeFileSync(join(dir, 'ndarray-cache.json'), JSON.stringify({ metadata: { unetParamSize: n }, records }));
  return dir;
}

function disposeAll(weights: ModelWeights): void {
  for (const list of weights.values()) for (const w of list) w.dispose();
}

describe.skipIf(!runtimeInfo.available)(titled('native weight loader', runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  beforeAll(() => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
  });
  afterAll(() => rt?.dispose());

  for (const kind of TEST_DEVICES) {
    it(`copies raw records as they are and expands bf16 ones (${kind})`, async (ctx) => {
      const why = await deviceUnavailable(rt, kind);
      if (why) return ctx.skip(why);
      const f32 = new Float32Array([1.5, -2, 3.25, 4]);
      const bf16Bits = randomBytes(2 * 1001); // odd element count, odd offset in the shard (after 3 bytes of uint8)
      const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff]);
      const u8 = new Uint8Array([7, 8, 9]);
      const i32 = new Int32Array([7, -8]);
      const bigBf16 = randomBytes(2 * 2049 * 2048);
      const bigF32 = randomBytes(4 * 1025 * 2048);
      const dir = writeParams([
        [
          { shape: [3], dtype: 'uint8', format: 'raw', bytes: u8 },
          { shape: [7, 11, 13], dtype: 'float32', format: 'f32-to-bf16', bytes: bf16Bits },
          { shape: [3], dtype: 'float16', format: 'raw', bytes: new Uint8Array(f16.buffer) },
        ],
        [
          { shape: [2, 2], dtype: 'float32', format: 'raw', bytes: new Uint8Array(f32.buffer) },
          { shape: [2], dtype: 'int32', format: 'raw', bytes: new Uint8Array(i32.buffer) },
          // Large enough to be split over threads (parts of 4 MiB stored), at odd offsets.
          { shape: [3], dtype: 'uint8', format: 'raw', bytes: u8 },
          { shape: [2049, 2048], dtype: 'float32', format: 'f32-to-bf16', bytes: bigBf16 },
          { shape: [3], dtype: 'uint8', format: 'raw', bytes: u8 },
          { shape: [1025, 2048], dtype: 'float32', format: 'raw', bytes: bigF32 },
        ],
      ]);
      const weights = await loadWeights(rt, rt.device(kind), await readWeightIndex(dir));
      const [a, b, c, d, e] = weights.get('unet')!;
      expect((await a!.toTypedArrayAsync())).toEqual(u8);
      expect(b!.dtype).toBe('float32');
      expect(b!.shape).toEqual([7, 11, 13]);
      expect(new Uint32Array((await b!.toFloat32ArrayAsync()).buffer)).toEqual(new Uint32Array(expandBf16(bf16Bits).buffer));
      expect(c!.dtype).toBe('float16');
      expect((await c!.toTypedArrayAsync())).toEqual(f16);
      expect((await d!.toTypedArrayAsync())).toEqual(f32);
      expect((await e!.toTypedArrayAsync())).toEqual(i32);
      const [, , , , , , g, , i] = weights.get('unet')!;
      const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
        Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
      expect(sameBytes((await g!.toFloat32ArrayAsync()), expandBf16(bigBf16))).toBe(true);
      expect(sameBytes((await i!.toFloat32ArrayAsync()), bigF32)).toBe(true);
      disposeAll(weights);
    });
  }

  describe('cleanup on the cpu device', () => {
    // Records above glibc's largest mmap threshold (32 MiB) are unmapped when freed, so the
    // process's RSS is a faithful measure of the CPU device's memory.
    const BIG = [9 * 1024 * 1024]; // float32 elements: 36 MiB on the device, 18 MiB stored
    const small = (): TestRecord => ({
      shape: [64],
      dtype: 'float32',
      format: 'f32-to-bf16',
      bytes: new Uint8Array(128).fill(0x3f),
    });
    const shard = (): TestRecord[] => [{ shape: BIG, dtype: 'float32', format: 'f32-to-bf16', bytes: 2 * BIG[0]! }, small(), small(), small()];
    let dir: string;
    const MiB = 2 ** 20;

    const settledRss = async (): Promise<number> => {
      await rt.device('cpu').syncAsync(); // the worker has run every free queued before it
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage().rss;
    };
    const made = (): number => nativeBinding().weightLoaderStats().arraysAllocated;

    beforeAll(async () => {
      dir = writeParams([shard(), shard(), shard(), shard()]);
      // A complete load first, so the allocator's own bookkeeping is in place before the baseline.
      disposeAll(await loadWeights(rt, rt.device('cpu'), await readWeightIndex(dir)));
    });

    // Retried: the precondition that RSS grew while two shards were held fails when the
    // allocator already holds freed pages from earlier work in this process (seen once in a
    // full CI run, never alone); a leak cannot pass by being retried.
    it('an abort between shards frees the shards already loaded', { retry: 2 }, async () => {
      const index = await readWeightIndex(dir);
      const before = await settledRss();
      const madeBefore = made();
      const controller = new AbortController();
      const done: number[] = [];
      let peak = 0;
      const load = loadWeights(rt, rt.device('cpu'), index, {
        signal: controller.signal,
        onProgress: (p) => {
          done.push(p.loadedBytes);
          peak = Math.max(peak, process.memoryUsage().rss);
          if (done.length === 2) controller.abort();
        },
      });
      await expect(load).rejects.toBeInstanceOf(AbortError);
      expect(done).toEqual([index.shards[0]!.nbytes, index.shards[0]!.nbytes + index.shards[1]!.nbytes]);
      expect(made() - madeBefore).toBe(8); // two shards of four records were made...
      expect(peak - before).toBeGreaterThan(60 * MiB); // ...and held 2 x 36 MiB...
      expect(Math.abs((await settledRss()) - before)).toBeLessThan(16 * MiB); // ...and are gone again
    });

    it('an abort while a shard is being loaded frees that shard\'s arrays and the earlier ones', async () => {
      const index = await readWeightIndex(dir);
      const before = await settledRss();
      const madeBefore = made();
      const controller = new AbortController();
      // Abort once the worker has made the third shard's first (36 MiB) array and is
      // filling it: the worker then stops before that shard's second record.
      const watch = (): void => {
        if (made() - madeBefore >= 9) controller.abort();
        else if (!controller.signal.aborted) setImmediate(watch);
      };
      setImmediate(watch);
      const load = loadWeights(rt, rt.device('cpu'), index, { signal: controller.signal });
      await expect(load).rejects.toBeInstanceOf(AbortError);
      const count = made() - madeBefore;
      expect(count).toBeGreaterThanOrEqual(9);
      expect(count).toBeLessThanOrEqual(12);
      expect(Math.abs((await settledRss()) - before)).toBeLessThan(16 * MiB);
    });

    it('a truncated second shard fails by name before any array of it is made, and frees the first', async () => {
      const copy = writeParams([shard(), shard(), shard(), shard()]);
      const index = await readWeightIndex(copy);
      const second = join(copy, 'params_shard_1.bin');
      truncateSync(second, index.shards[1]!.nbytes - 1);
      const before = await settledRss();
      const madeBefore = made();
      const progress: string[] = [];
      const error = await loadWeights(rt, rt.device('cpu'), index, { onProgress: (p) => progress.push(p.shard) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ArtifactError);
      expect((error as ArtifactError).file).toBe(second);
      expect((error as ArtifactError).message).toMatch(/has \d+ bytes, the index says \d+: the file is truncated or damaged/);
      expect(progress).toEqual(['params_shard_0.bin']);
      expect(made() - madeBefore).toBe(4); // the first shard's four, none of the second's
      expect(Math.abs((await settledRss()) - before)).toBeLessThan(16 * MiB);
    });

    it('a signal aborted before the load makes nothing', async () => {
      const madeBefore = made();
      await expect(loadWeights(rt, rt.device('cpu'), await readWeightIndex(dir), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
      expect(made()).toBe(madeBefore);
    });
  });

  it('refuses bad records from JavaScript with an error, not a crash', async () => {
    const cancel = new Int32Array(1);
    const call = (records: unknown[], nbytes = 8): Promise<unknown> =>
      rt.native.loadWeightShard('/nonexistent', nbytes, records as never, 1, 0, cancel, null);
    const rec = { shape: [2], dtype: 'float32', bf16: true, byteOffset: 0, nbytes: 4 };
    expect(() => call([{ ...rec, byteOffset: 6 }])).toThrow(/beyond the end of the shard/);
    expect(() => call([{ ...rec, nbytes: 6 }])).toThrow(/nbytes is 6, its shape needs 4/);
    expect(() => call([{ ...rec, dtype: 'int32' }])).toThrow(/bf16 records must be float32/);
    expect(() => call([{ ...rec, shape: [-1] }])).toThrow(tvm.InvalidArgumentError);
    expect(() => call([{ ...rec, shape: [2 ** 40, 2 ** 20] }])).toThrow(/256 TiB/);
    expect(() => rt.native.loadWeightShard('/x', 8, [], 1, 0, new Uint32Array(1) as never, null)).toThrow(/cancel flag/);
    await expect(call([rec])).resolves.toMatchObject({ failure: 'file', message: expect.stringMatching(/cannot be opened/) });
  });
});
