// The low-level TVM API against the real runtime: a C library with TVM's packed-function
// calling convention, NDArrays of every dtype on cpu and opencl, global functions, errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tvm from '../lib/tvm/index.js';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();

/** What only tvm-ffi has: registered on that runtime alone, so the other does not report it skipped. */
function itOnTvmFfi(name: string, fn: () => void | Promise<void>): void {
  if (runtimeInfo.abi === 'tvm-ffi') it(name, fn);
}

/** Global functions that differ between the two ABIs. */
const GLOBALS =
  runtimeInfo.abi === 'tvm-ffi'
    ? { array: 'ffi.Array', arraySize: 'ffi.ArraySize', arrayGetItem: 'ffi.ArrayGetItem' }
    : { array: 'runtime.Array', arraySize: 'runtime.ArraySize', arrayGetItem: 'runtime.ArrayGetItem' };

describe.skipIf(!runtimeInfo.available)(titled(`TVM runtime ${runtimeInfo.id} (${runtimeInfo.abi} ABI)`, runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  let lib: tvm.Module;

  beforeAll(async () => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = await rt.loadModuleAsync(buildPackedFuncsLibrary(runtimeInfo.abi));
  });
  afterAll(() => {
    lib?.dispose();
  });

  it(`reports the ${runtimeInfo.abi} ABI and the library it opened`, () => {
    expect(rt.abi).toBe(runtimeInfo.abi);
    expect(rt.libraryPath).toBe(runtimeInfo.path);
    if (runtimeInfo.abi === 'tvm-ffi') {
      expect(rt.abiVersion).toMatch(/^\d+\.\d+\.\d+$/);
      expect(rt.tvmVersion).toBe('TVM >= v0.22');
    } else {
      expect(rt.abiVersion).toBeUndefined();
      expect(rt.tvmVersion).toBe('TVM <= v0.20');
    }
  });

  itOnTvmFfi('loads the OpenCL library beside the runtime when the OpenCL device is first used, not when it is named', async () => {
    const before = await rt.listGlobalFunctionsAsync();
    expect(before).not.toContain('device_api.opencl');
    const opencl = rt.device('opencl');
    expect(await rt.listGlobalFunctionsAsync()).not.toContain('device_api.opencl');
    await opencl.existsAsync();
    const after = await rt.listGlobalFunctionsAsync();
    expect(after).toContain('device_api.opencl');
    expect(after).toContain('ffi.Module.load_from_bytes.opencl');
  });

  it('opening the same library again shares the runtime', () => {
    const again = tvm.loadRuntime({ library: runtimeInfo.path });
    expect(again.abi).toBe(runtimeInfo.abi);
    again.dispose();
    expect(again.disposed).toBe(true);
    expect(rt.disposed).toBe(false);
    expect(() => again.device('cpu')).toThrow(tvm.DisposedError);
  });

  describe('a C library with the packed-function calling convention', () => {
    it('adds two NDArrays', async () => {
      const n = 1000;
      const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: n }, (_, i) => i / 7);
      const x = await rt.ndarrayAsync(a, [10, 100], 'float32');
      const y = await rt.ndarrayAsync(b, [10, 100], 'float32');
      const out = await rt.emptyAsync([10, 100], 'float32');
      expect(await (await lib.getFunctionAsync('add_f32')).callAsync(x, y, out)).toBeNull();
      const got = await out.toFloat32ArrayAsync();
      for (let i = 0; i < n; i++) expect(got[i]).toBe(Math.fround(a[i]! + b[i]!));
      for (const arr of [x, y, out]) arr.dispose();
    });

    it('receives typed scalars typed: int stays int, float stays float', async () => {
      const scale = await lib.getFunctionAsync('scale');
      expect(await scale.callAsync(tvm.int(3), tvm.float(0.5))).toBe(1.5);
      expect(await scale.callAsync(tvm.int(7n), tvm.float(2))).toBe(14);
      await expect(scale.callAsync(tvm.float(3), tvm.float(0.5))).rejects.toThrow(tvm.TvmError);
    });

    it('refuses a plain number rather than guessing its type', async () => {
      const scale = await lib.getFunctionAsync('scale');
      await expect(scale.callAsync(3 as unknown as tvm.TvmInt, tvm.float(1))).rejects.toThrow(/ambiguous.*tvm\.int\(3\)/);
    });

    it('turns an error raised through TVMAPISetLastError into a TvmError with its message', async () => {
      let caught: unknown;
      try {
        await (await lib.getFunctionAsync('raise_error')).callAsync('the reason');
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(tvm.TvmError);
      expect((caught as tvm.TvmError).message).toContain('raised on purpose: the reason');
      expect((caught as tvm.TvmError).code).toBe('TVM_ERROR');
      if (runtimeInfo.abi === 'tvm-ffi') {
        // tvm-ffi errors are objects: their kind and backtrace come through apart.
        expect((caught as tvm.TvmError).kind).toBe('ValueError');
        expect((caught as tvm.TvmError).message).toBe('ValueError: raised on purpose: the reason');
        expect(typeof (caught as tvm.TvmError).backtrace).toBe('string');
      } else {
        expect((caught as tvm.TvmError).kind).toBeUndefined();
      }
    });

    itOnTvmFfi('returns String objects with their full length, NUL bytes included', async () => {
      const text = await (await lib.getFunctionAsync('long_text')).callAsync();
      expect(typeof text).toBe('string');
      expect((text as string).length).toBe(100);
      expect([...(text as string)].filter((c) => c === '\0')).toHaveLength(10);
      expect((text as string).slice(0, 12)).toBe('abcdefghi\0ab');
    });

    it('passes strings with NUL bytes and binary Uint8Arrays whole', async () => {
      const echo = await rt.getGlobalFunctionAsync(runtimeInfo.abi === 'tvm-ffi' ? 'ffi.Bytes' : 'runtime.String');
      if (runtimeInfo.abi === 'tvm-ffi') {
        const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
        const back = await echo.callAsync(bytes);
        expect(back).toBeInstanceOf(Uint8Array);
        expect([...(back as Uint8Array)]).toEqual([...bytes]);
        expect(await (await rt.getGlobalFunctionAsync('ffi.String')).callAsync('a\0b\0c')).toBe('a\0b\0c');
      } else {
        expect(await echo.callAsync('plain text')).toBe('plain text');
      }
      echo.dispose();
    });

    it('returns strings (runtime String objects) as JavaScript strings', async () => {
      expect(await (await lib.getFunctionAsync('greet')).callAsync('Mali')).toBe('hello, Mali');
    });

    it('a missing function is undefined from findFunctionAsync and a TvmError from getFunctionAsync', async () => {
      expect(await lib.findFunctionAsync('no_such_function')).toBeUndefined();
      await expect(lib.getFunctionAsync('no_such_function')).rejects.toThrow(tvm.TvmError);
      expect(await lib.findFunctionAsync('add_f32')).toBeInstanceOf(tvm.PackedFunction);
    });

    it('callAsync keeps the event loop running during a long call', async () => {
      const sleep = await lib.getFunctionAsync('sleep_ms');
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const started = Date.now();
      const result = await sleep.callAsync(tvm.int(400));
      clearInterval(timer);
      expect(result).toBe(400);
      expect(Date.now() - started).toBeGreaterThanOrEqual(390);
      // A blocked loop would fire at most once after the call.
      expect(ticks).toBeGreaterThanOrEqual(10);
    });

    it('async calls run one at a time, in order, and errors reject with TvmError', async () => {
      const order: number[] = [];
      const sleep = await lib.getFunctionAsync('sleep_ms');
      const raise = await lib.getFunctionAsync('raise_error');
      const p1 = sleep.callAsync(tvm.int(60)).then((v) => order.push(Number(v)));
      const p2 = raise.callAsync('async');
      const p3 = sleep.callAsync(tvm.int(1)).then((v) => order.push(Number(v)));
      await expect(p2).rejects.toThrow(tvm.TvmError);
      await Promise.all([p1, p3]);
      expect(order).toEqual([60, 1]);
    });

    it('disposing a function while its async call runs frees it after the call', async () => {
      const sleep = await lib.getFunctionAsync('sleep_ms');
      const pending = sleep.callAsync(tvm.int(50));
      sleep.dispose();
      expect(sleep.disposed).toBe(true);
      await expect(pending).resolves.toBe(50);
      await expect(sleep.callAsync(tvm.int(1))).rejects.toThrow(tvm.DisposedError);
    });
  });

  describe('global functions', () => {
    it('lists and calls them', async () => {
      const names = await rt.listGlobalFunctionsAsync();
      expect(names).toContain('runtime.GetDeviceAttr');
      expect(names).toContain(GLOBALS.array);
      const getAttr = await rt.getGlobalFunctionAsync('runtime.GetDeviceAttr');
      expect(await getAttr.callAsync(tvm.int(1), tvm.int(0), tvm.int(0))).toBe(1); // cpu exists
      getAttr.dispose();
    });

    itOnTvmFfi('passes objects, dtypes, devices and None to a global: a tensor made by hand', async () => {
      const shape = await (await rt.getGlobalFunctionAsync('ffi.Shape')).callAsync(tvm.int(2), tvm.int(3));
      expect(shape).toBeInstanceOf(tvm.TvmObject);
      expect((shape as tvm.TvmObject).typeKey).toBe('ffi.Shape');
      const alloc = await rt.getGlobalFunctionAsync('runtime.TVMTensorAllocWithScope');
      const made = await alloc.callAsync(shape as tvm.TvmObject, tvm.dtype('float16'), rt.device('cpu'), null);
      expect(made).toBeInstanceOf(tvm.NDArray);
      expect((made as tvm.NDArray).shape).toEqual([2, 3]);
      expect((made as tvm.NDArray).dtype).toBe('float16');
      expect((made as tvm.NDArray).device.toString()).toBe('cpu:0');
      await expect(alloc.callAsync(shape as tvm.TvmObject, tvm.dtype('float16'), rt.device('cpu'), tvm.int(5))).rejects.toThrow(tvm.TvmError);
      for (const x of [made as tvm.NDArray, shape as tvm.TvmObject, alloc]) x.dispose();
    });

    it('a missing global is a TvmError', async () => {
      await expect(rt.getGlobalFunctionAsync('sd_mali.no_such_global')).rejects.toThrow(tvm.TvmError);
      expect(await rt.findGlobalFunctionAsync('sd_mali.no_such_global')).toBeUndefined();
    });

    it('runtime.arrayAsync builds the Array object model functions take', async () => {
      const items = [await rt.ndarrayAsync(new Float32Array([1]), [1], 'float32'), await rt.emptyAsync([2, 3], 'int32')];
      const arr = await rt.arrayAsync(items);
      expect(arr.typeKey).toMatch(/Array/);
      const size = await rt.getGlobalFunctionAsync(GLOBALS.arraySize);
      expect(await size.callAsync(arr)).toBe(2);
      const getItem = await rt.getGlobalFunctionAsync(GLOBALS.arrayGetItem);
      const second = await getItem.callAsync(arr, tvm.int(1));
      expect(second).toBeInstanceOf(tvm.NDArray);
      expect((second as tvm.NDArray).shape).toEqual([2, 3]);
      expect((second as tvm.NDArray).dtype).toBe('int32');
      arr.dispose();
      expect(() => arr.typeKey).toThrow(tvm.DisposedError);
      await expect(rt.arrayAsync([{} as tvm.NDArray])).rejects.toThrow(tvm.InvalidArgumentError);
    });
  });

  for (const kind of TEST_DEVICES) {
    describe(`NDArrays on ${kind}`, () => {
      let skip = '';
      let dev: tvm.Device;
      beforeAll(async () => {
        skip = await deviceUnavailable(rt, kind);
        dev = rt.device(kind);
      });

      it('reports the device and its attributes', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const attrs = await dev.attributesAsync();
        expect(attrs.exists).toBe(true);
        if (kind === 'opencl') {
          expect(typeof attrs.name).toBe('string');
          expect(attrs.maxThreadsPerBlock).toBeGreaterThan(0);
          expect(attrs.warpSize).toBeGreaterThan(0);
          expect(attrs.totalGlobalMemory).toBeGreaterThan(0);
          expect(attrs.computeVersion).toMatch(/^\d+\.\d+$/);
        }
        await expect(dev.syncAsync()).resolves.toBeUndefined();
      });

      const cases: Array<[tvm.DType, () => ArrayBufferView]> = [
        ['float32', () => Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 3)],
        ['float64', () => Float64Array.from({ length: 24 }, (_, i) => Math.PI * i)],
        ['float16', () => Uint16Array.from({ length: 24 }, (_, i) => 0x3c00 + i)],
        ['bfloat16', () => Uint16Array.from({ length: 24 }, (_, i) => 0x3f80 + i * 3)],
        ['int8', () => Int8Array.from({ length: 24 }, (_, i) => i * 11 - 128)],
        ['int16', () => Int16Array.from({ length: 24 }, (_, i) => i * 1000 - 12000)],
        ['int32', () => Int32Array.from({ length: 24 }, (_, i) => i * 100_000_007 - 2e9)],
        ['int64', () => BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i) * 123456789012345n - 9n)],
        ['uint8', () => Uint8Array.from({ length: 24 }, (_, i) => i * 10)],
        ['uint16', () => Uint16Array.from({ length: 24 }, (_, i) => i * 2500)],
        ['uint32', () => Uint32Array.from({ length: 24 }, (_, i) => i * 178_956_970)],
        ['uint64', () => BigUint64Array.from({ length: 24 }, (_, i) => BigInt(i) * 0xfedcba987654321n)],
      ];
      for (const [dtype, make] of cases) {
        it(`round-trips ${dtype}`, async ({ skip: skipTest }) => {
          if (skip) skipTest(skip);
          const data = make();
          const arr = await rt.ndarrayAsync(data, [2, 3, 4], dtype, dev);
          expect(arr.shape).toEqual([2, 3, 4]);
          expect(arr.dtype).toBe(dtype);
          expect(arr.device.kind).toBe(kind);
          expect(arr.byteLength).toBe(data.byteLength);
          expect(await arr.toTypedArrayAsync()).toEqual(data);
          arr.dispose();
          expect(arr.disposed).toBe(true);
          await expect(arr.toTypedArrayAsync()).rejects.toThrow(tvm.DisposedError);
        });
      }

      it('copies raw bytes from a Buffer and refuses wrong sizes and element types', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const arr = await rt.emptyAsync([4], 'float32', dev);
        await arr.copyFromAsync(Buffer.from(new Float32Array([1, 2, 3, 4]).buffer));
        expect(await arr.toTypedArrayAsync()).toEqual(new Float32Array([1, 2, 3, 4]));
        await expect(arr.copyFromAsync(new Float32Array(5))).rejects.toThrow(tvm.InvalidArgumentError);
        await expect(arr.copyFromAsync(new Int32Array(4))).rejects.toThrow(tvm.InvalidArgumentError);
        arr.dispose();
      });

      it('refuses negative, fractional and absurd shapes and unknown dtypes', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        await expect(rt.emptyAsync([-1], 'float32', dev)).rejects.toThrow(tvm.InvalidArgumentError);
        await expect(rt.emptyAsync([1.5], 'float32', dev)).rejects.toThrow(tvm.InvalidArgumentError);
        await expect(rt.emptyAsync([2 ** 30, 2 ** 30, 2 ** 10], 'float32', dev)).rejects.toThrow(tvm.InvalidArgumentError);
        await expect(rt.emptyAsync([2], 'complex64' as tvm.DType, dev)).rejects.toThrow(tvm.InvalidArgumentError);
      });
    });
  }
});
