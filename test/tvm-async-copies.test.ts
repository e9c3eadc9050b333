// Issue 15, item 5: the asynchronous copies and allocation of the low-level API (its only
// ones since issue 22). They run on the runtime's worker thread in order with its other
// calls and keep the JavaScript buffer alive until they settle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tvm from '../lib/tvm/index.js';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();

describe.skipIf(!runtimeInfo.available)(titled('asynchronous copies (issue 15, item 5)', runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  let lib: tvm.Module;
  beforeAll(async () => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = await rt.loadModuleAsync(buildPackedFuncsLibrary(runtimeInfo.abi));
  });
  afterAll(() => lib?.dispose());

  for (const kind of TEST_DEVICES) {
    it(`emptyAsync, copyFromAsync and toTypedArrayAsync round-trip every dtype on ${kind}`, async ({ skip }) => {
      const why = await deviceUnavailable(rt, kind);
      if (why) skip(why);
      const device = rt.device(kind);
      const cases: Array<[tvm.DType, ArrayBufferView]> = [
        ['float32', Float32Array.from([1.5, -2, 3.25, Math.PI])],
        ['int32', Int32Array.from([1, -2, 2 ** 31 - 1, -(2 ** 31)])],
        ['uint8', Uint8Array.from([0, 1, 254, 255])],
        ['float64', Float64Array.from([Math.E, -0, 1e300, 5e-324])],
        ['int64', BigInt64Array.from([1n, -1n, 2n ** 62n, -(2n ** 63n)])],
      ];
      for (const [dtype, data] of cases) {
        const a = await rt.emptyAsync([2, 2], dtype, device);
        expect(a.shape).toEqual([2, 2]);
        expect(a.dtype).toBe(dtype);
        await a.copyFromAsync(data);
        const back = await a.toTypedArrayAsync();
        expect(back.constructor).toBe(data.constructor);
        expect(Buffer.from(back.buffer).equals(Buffer.from(data.buffer))).toBe(true);
        a.dispose();
      }
      const viaNdarray = await rt.ndarrayAsync(Float32Array.from([1, 2, 3]), [3], 'float32', device);
      expect(Array.from(await viaNdarray.toFloat32ArrayAsync())).toEqual([1, 2, 3]);
      viaNdarray.dispose();
    });
  }

  it('runs in order with the calls queued before it on the worker thread', async () => {
    const x = await rt.ndarrayAsync(Float32Array.from([1, 2]), [2], 'float32');
    const y = await rt.ndarrayAsync(Float32Array.from([10, 20]), [2], 'float32');
    const out = await rt.emptyAsync([2], 'float32');
    const add = await lib.getFunctionAsync('add_f32');
    const sleep = await lib.getFunctionAsync('sleep_ms');
    // A slow call first, then the add, then the read: the read must see the add's result.
    const slow = sleep.callAsync(tvm.int(100));
    const added = add.callAsync(x, y, out);
    const read = out.toFloat32ArrayAsync();
    const write = x.copyFromAsync(Float32Array.from([100, 200])); // after the add read x
    await Promise.all([slow, added, write]);
    expect(Array.from(await read)).toEqual([11, 22]);
    expect(Array.from(await x.toFloat32ArrayAsync())).toEqual([100, 200]);
    for (const a of [x, y, out]) a.dispose();
  });

  it('keeps the source buffer alive until the copy settled, even when nothing else refers to it', async () => {
    const a = await rt.emptyAsync([1 << 20], 'float32');
    const sleep = await lib.getFunctionAsync('sleep_ms');
    const slow = sleep.callAsync(tvm.int(200));
    // The only reference to the 4 MiB source is the pending copy; collect while it waits.
    const copied = a.copyFromAsync(new Float32Array(1 << 20).fill(7));
    (globalThis as { gc?: () => void }).gc?.();
    await Promise.all([slow, copied]);
    const back = await a.toFloat32ArrayAsync();
    expect(back[0]).toBe(7);
    expect(back[(1 << 20) - 1]).toBe(7);
    a.dispose();
  });

  it('refuses bad sizes, element types, shapes and disposed arrays as rejections', async () => {
    const a = await rt.emptyAsync([4], 'float32');
    await expect(a.copyFromAsync(new Float32Array(3))).rejects.toThrow(tvm.InvalidArgumentError);
    await expect(a.copyFromAsync(new Int32Array(4))).rejects.toThrow(tvm.InvalidArgumentError);
    await expect(rt.emptyAsync([1e19, 0], 'float32')).rejects.toThrow(tvm.InvalidArgumentError);
    a.dispose();
    await expect(a.copyFromAsync(new Float32Array(4))).rejects.toThrow(tvm.DisposedError);
    await expect(a.toTypedArrayAsync()).rejects.toThrow(tvm.DisposedError);
  });

  it('loads modules and looks up functions asynchronously', async () => {
    const m = await rt.loadModuleAsync(buildPackedFuncsLibrary(runtimeInfo.abi));
    const scale = await m.findFunctionAsync('scale');
    expect(scale).toBeDefined();
    expect(await m.findFunctionAsync('no_such_function')).toBeUndefined();
    expect(await scale!.callAsync(tvm.int(3), tvm.float(0.5))).toBe(1.5);
    expect(await rt.findGlobalFunctionAsync('runtime.GetDeviceAttr')).toBeDefined();
    expect(await rt.findGlobalFunctionAsync('no.such.global')).toBeUndefined();
    expect(await rt.device('cpu').attributeAsync('exist')).toBe(1);
    const arr = await rt.arrayAsync([await rt.emptyAsync([1], 'float32')]);
    expect(arr.typeKey).toBe(runtimeInfo.abi === 'tvm-ffi' ? 'ffi.Array' : 'Array');
    m.dispose();
  });
});
