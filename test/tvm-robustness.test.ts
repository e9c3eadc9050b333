// Issue 15: the low-level API's edges that were proved wrong from outside — shapes beyond
// int64, SharedArrayBuffer views. Named after the items.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tvm from '../lib/tvm/index.js';
import { testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();

describe.skipIf(!runtimeInfo.available)(titled('low-level robustness (issue 15)', runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  beforeAll(() => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
  });
  afterAll(() => rt?.dispose());

  describe('item 7: every shape dimension is checked before it becomes an int64', () => {
    for (const shape of [[1e19, 0], [0, 2 ** 63], [0, 2 ** 53], [Number.MAX_VALUE, 0, 3]]) {
      it(`refuses ${JSON.stringify(shape)} with an InvalidArgumentError instead of reporting a wrapped shape`, async () => {
        await expect(rt.emptyAsync(shape, 'float32')).rejects.toThrow(tvm.InvalidArgumentError);
        await expect(rt.emptyAsync(shape, 'float32')).rejects.toThrow(/larger than 2\^53 - 1/);
      });
    }

    it('still accepts the largest safe dimension next to a zero', async () => {
      const a = await rt.emptyAsync([0, 2 ** 53 - 1], 'uint8');
      expect(a.shape).toEqual([0, 2 ** 53 - 1]);
      expect(a.byteLength).toBe(0);
      a.dispose();
    });
  });

  describe('item 9: SharedArrayBuffer views are accepted', () => {
    it('copies in from and out to views on a SharedArrayBuffer, and from the SharedArrayBuffer itself', async () => {
      const shared = new SharedArrayBuffer(16);
      const values = new Float32Array(shared);
      values.set([1.5, -2, 3.25, 4]);
      const a = await rt.emptyAsync([4], 'float32');
      await a.copyFromAsync(values);
      expect(Array.from(await a.toFloat32ArrayAsync())).toEqual([1.5, -2, 3.25, 4]);
      const out = new Float32Array(new SharedArrayBuffer(16));
      await a.native.copyToAsync(out);
      expect(Array.from(out)).toEqual([1.5, -2, 3.25, 4]);
      const other = new SharedArrayBuffer(16);
      new Float32Array(other).set([9, 8, 7, 6]);
      await a.copyFromAsync(other);
      expect(Array.from(await a.toFloat32ArrayAsync())).toEqual([9, 8, 7, 6]);
      await a.copyFromAsync(new DataView(shared, 0, 16));
      expect(Array.from(await a.toFloat32ArrayAsync())).toEqual([1.5, -2, 3.25, 4]);
      // A view with an offset reads from its own start.
      const offsetView = new Float32Array(new SharedArrayBuffer(32), 16, 4);
      offsetView.set([5, 6, 7, 8]);
      await a.copyFromAsync(offsetView);
      expect(Array.from(await a.toFloat32ArrayAsync())).toEqual([5, 6, 7, 8]);
      a.dispose();
    });
  });
});
