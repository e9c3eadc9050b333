// torch.manual_seed(seed); torch.randn(shape) on the CPU, against torch's own outputs.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGenerator, Mt19937 } from '../lib/random/index.js';
import { InvalidArgumentError } from '../lib/errors.js';
import { Pacer } from '../lib/event-loop-pacer.js';
import { golden, readF32, readJson } from './support/golden.js';
import { titled } from './support/shared-data.js';

describe('Mt19937', () => {
  it('matches the reference sequence of the 32-bit Mersenne Twister (seed 5489)', () => {
    // std::mt19937 with the default seed 5489: its 10000th output is 4123659995 (C++ standard, [rand.predef]).
    const mt = new Mt19937(5489);
    let last = 0;
    for (let i = 0; i < 10000; i++) last = mt.nextUint32();
    expect(last).toBe(4123659995);
  });
});

interface RandnIndex {
  cases: Array<{ seed: string; shape: number[]; numel: number; file: string }>;
}

const data = golden('randn/index.json', 'torch.randn golden outputs');

describe.skipIf(!data.available)(titled('torch.randn', data), () => {
  const index = data.available ? readJson<RandnIndex>(data.path) : { cases: [] };

  for (const c of index.cases) {
    it(`seed ${c.seed}, shape [${c.shape.join(',')}] is bit-identical`, () => {
      const expected = readF32(join(data.path, '..', c.file));
      const got = createGenerator(BigInt(c.seed)).randn(c.shape);
      expect(got.length).toBe(c.numel);
      // Bit-identical: compare the raw bits, so -0 vs 0 and NaN would count too.
      expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(expected.buffer));
    });

    it(`seed ${c.seed}, shape [${c.shape.join(',')}] is bit-identical from randnAsync, cut into slices`, async () => {
      const expected = readF32(join(data.path, '..', c.file));
      // Slices of 0 ms: a yield at every chance, so every chunk boundary is crossed.
      const pacer = new Pacer(0);
      const got = await createGenerator(BigInt(c.seed)).randnAsync(c.shape, pacer);
      expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(expected.buffer));
      if (c.numel >= 64 * 1024) expect(pacer.yields).toBeGreaterThan(0);
    });
  }

  it('randnAsync continues the same stream as randn, tails and small draws included', async () => {
    const sync = createGenerator(7);
    const paced = createGenerator(7);
    for (const shape of [[1, 4, 64, 64], [3], [1000], [5], [16 * 1024 + 5]]) {
      expect(new Uint32Array((await paced.randnAsync(shape, new Pacer(0))).buffer)).toEqual(new Uint32Array(sync.randn(shape).buffer));
    }
  });

  it('uses only the low 32 bits of the seed, like torch', () => {
    expect(createGenerator(2n ** 32n + 42n).randn([20])).toEqual(createGenerator(42).randn([20]));
    expect(createGenerator(-1).randn([20])).toEqual(createGenerator(0xffffffff).randn([20]));
  });

  it('continues the stream across draws from one generator', () => {
    const g = createGenerator(42);
    const first = g.randn([1, 4, 8, 8]);
    const second = g.randn([1, 4, 8, 8]);
    expect(second).not.toEqual(first);
    // Two batched draws consume the same uniforms as one draw of twice the size.
    expect([...first, ...second]).toEqual([...createGenerator(42).randn([2, 4, 8, 8])]);
  });

  it('keeps the cached second Box-Muller value between small draws', () => {
    const g = createGenerator(42);
    const a = g.randn([3]);
    const b = g.randn([4]);
    expect([...a, ...b]).toEqual([...createGenerator(42).randn([7])]);
  });

  it('rejects unsafe number seeds and bad shapes', () => {
    expect(() => createGenerator(2 ** 60)).toThrow(RangeError);
    expect(() => createGenerator(1.5)).toThrow(RangeError);
    // torch.manual_seed's range is int64 ∪ uint64: the ends are taken, one beyond is refused.
    expect(createGenerator(-(2n ** 63n)).seed).toBe(2n ** 63n);
    expect(createGenerator(2n ** 64n - 1n).seed).toBe(2n ** 64n - 1n);
    expect(() => createGenerator(2n ** 64n)).toThrow(InvalidArgumentError);
    expect(() => createGenerator(-(2n ** 63n) - 1n)).toThrow(/outside torch's range/);
    expect(() => createGenerator(1).randn([-1])).toThrow(RangeError);
    return expect(createGenerator(1).randnAsync([2.5])).rejects.toThrow(RangeError);
  });
});
