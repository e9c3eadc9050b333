// The low-level TVM API against the real runtime: a C library with TVM's packed-function
// calling convention, NDArrays of every dtype on cpu and opencl, global functions, errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tvm from '../lib/tvm/index.js';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();

/** What only tvm-ffi has: registered on that runtime alone, so the other does not report it skipped. */
function itOnTvmFfi(name: string, fn: () => void): void {
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

  beforeAll(() => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = rt.loadModule(buildPackedFuncsLibrary(runtimeInfo.abi));
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

  itOnTvmFfi('loads the OpenCL library beside the runtime when the OpenCL device is first asked for', () => {
    const before = rt.listGlobalFunctions();
    expect(before).not.toContain('device_api.opencl');
    rt.device('opencl');
    const after = rt.listGlobalFunctions();
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
    it('adds two NDArrays', () => {
      const n = 1000;
      const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: n }, (_, i) => i / 7);
      const x = rt.ndarray(a, [10, 100], 'float32');
      const y = rt.ndarray(b, [10, 100], 'float32');
      const out = rt.empty([10, 100], 'float32');
      expect(lib.getFunction('add_f32').call(x, y, out)).toBeNull();
      const got = out.toFloat32Array();
      for (let i = 0; i < n; i++) expect(got[i]).toBe(Math.fround(a[i]! + b[i]!));
      for (const arr of [x, y, out]) arr.dispose();
    });

    it('receives typed scalars typed: int stays int, float stays float', () => {
      expect(lib.getFunction('scale').call(tvm.int(3), tvm.float(0.5))).toBe(1.5);
      expect(lib.getFunction('scale').call(tvm.int(7n), tvm.float(2))).toBe(14);
      expect(() => lib.getFunction('scale').call(tvm.float(3), tvm.float(0.5))).toThrow(tvm.TvmError);
    });

    it('refuses a plain number rather than guessing its type', () => {
      const scale = lib.getFunction('scale');
      expect(() => scale.call(3 as unknown as tvm.TvmInt, tvm.float(1))).toThrow(/ambiguous.*tvm\.int\(3\)/);
    });

    it('turns an error raised through TVMAPISetLastError into a TvmError with its message', () => {
      let caught: unknown;
      try {
        lib.getFunction('raise_error').call('the reason');
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

    itOnTvmFfi('returns String objects with their full length, NUL bytes included', () => {
      const text = lib.getFunction('long_text').call();
      expect(typeof text).toBe('string');
      expect((text as string).length).toBe(100);
      expect([...(text as string)].filter((c) => c === '\0')).toHaveLength(10);
      expect((text as string).slice(0, 12)).toBe('abcdefghi\0ab');
    });

    it('passes strings with NUL bytes and binary Uint8Arrays whole', () => {
      const echo = rt.getGlobalFunction(runtimeInfo.abi === 'tvm-ffi' ? 'ffi.Bytes' : 'runtime.String');
      if (runtimeInfo.abi === 'tvm-ffi') {
        const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
        const back = echo.call(bytes);
        expect(back).toBeInstanceOf(Uint8Array);
        expect([...(back as Uint8Array)]).toEqual([...bytes]);
        expect(rt.getGlobalFunction('ffi.String').call('a\0b\0c')).toBe('a\0b\0c');
      } else {
        expect(echo.call('plain text')).toBe('plain text');
      }
      echo.dispose();
    });

    it('returns strings (runtime String objects) as JavaScript strings', () => {
      expect(lib.getFunction('greet').call('Mali')).toBe('hello, Mali');
    });

    it('a missing function is undefined from findFunction and a TvmError from getFunction', () => {
      expect(lib.findFunction('no_such_function')).toBeUndefined();
      expect(() => lib.getFunction('no_such_function')).toThrow(tvm.TvmError);
      expect(lib.hasFunction('add_f32')).toBe(true);
    });

    it('callAsync keeps the event loop running during a long call', async () => {
      const sleep = lib.getFunction('sleep_ms');
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
      const sleep = lib.getFunction('sleep_ms');
      const p1 = sleep.callAsync(tvm.int(60)).then((v) => order.push(Number(v)));
      const p2 = lib.getFunction('raise_error').callAsync('async');
      const p3 = sleep.callAsync(tvm.int(1)).then((v) => order.push(Number(v)));
      await expect(p2).rejects.toThrow(tvm.TvmError);
      await Promise.all([p1, p3]);
      expect(order).toEqual([60, 1]);
    });

    it('disposing a function while its async call runs frees it after the call', async () => {
      const sleep = lib.getFunction('sleep_ms');
      const pending = sleep.callAsync(tvm.int(50));
      sleep.dispose();
      expect(sleep.disposed).toBe(true);
      await expect(pending).resolves.toBe(50);
      expect(() => sleep.call(tvm.int(1))).toThrow(tvm.DisposedError);
    });
  });

  describe('global functions', () => {
    it('lists and calls them', () => {
      const names = rt.listGlobalFunctions();
      expect(names).toContain('runtime.GetDeviceAttr');
      expect(names).toContain(GLOBALS.array);
      const getAttr = rt.getGlobalFunction('runtime.GetDeviceAttr');
      expect(getAttr.call(tvm.int(1), tvm.int(0), tvm.int(0))).toBe(1); // cpu exists
      getAttr.dispose();
    });

    itOnTvmFfi('passes objects, dtypes, devices and None to a global: a tensor made by hand', () => {
      const shape = rt.getGlobalFunction('ffi.Shape').call(tvm.int(2), tvm.int(3));
      expect(shape).toBeInstanceOf(tvm.TvmObject);
      expect((shape as tvm.TvmObject).typeKey).toBe('ffi.Shape');
      const alloc = rt.getGlobalFunction('runtime.TVMTensorAllocWithScope');
      const made = alloc.call(shape as tvm.TvmObject, tvm.dtype('float16'), rt.device('cpu'), null);
      expect(made).toBeInstanceOf(tvm.NDArray);
      expect((made as tvm.NDArray).shape).toEqual([2, 3]);
      expect((made as tvm.NDArray).dtype).toBe('float16');
      expect((made as tvm.NDArray).device.toString()).toBe('cpu:0');
      expect(() => alloc.call(shape as tvm.TvmObject, tvm.dtype('float16'), rt.device('cpu'), tvm.int(5))).toThrow(tvm.TvmError);
      for (const x of [made as tvm.NDArray, shape as tvm.TvmObject, alloc]) x.dispose();
    });

    it('a missing global is a TvmError', () => {
      expect(() => rt.getGlobalFunction('sd_mali.no_such_global')).toThrow(tvm.TvmError);
      expect(rt.findGlobalFunction('sd_mali.no_such_global')).toBeUndefined();
    });

    it('runtime.array builds the Array object model functions take', () => {
      const items = [rt.ndarray(new Float32Array([1]), [1], 'float32'), rt.empty([2, 3], 'int32')];
      const arr = rt.array(items);
      expect(arr.typeKey).toMatch(/Array/);
      const size = rt.getGlobalFunction(GLOBALS.arraySize);
      expect(size.call(arr)).toBe(2);
      const getItem = rt.getGlobalFunction(GLOBALS.arrayGetItem);
      const second = getItem.call(arr, tvm.int(1));
      expect(second).toBeInstanceOf(tvm.NDArray);
      expect((second as tvm.NDArray).shape).toEqual([2, 3]);
      expect((second as tvm.NDArray).dtype).toBe('int32');
      arr.dispose();
      expect(() => arr.typeKey).toThrow(tvm.DisposedError);
      expect(() => rt.array([{} as tvm.NDArray])).toThrow(tvm.InvalidArgumentError);
    });
  });

  for (const kind of TEST_DEVICES) {
    describe(`NDArrays on ${kind}`, () => {
      let skip = '';
      let dev: tvm.Device;
      beforeAll(() => {
        skip = deviceUnavailable(rt, kind);
        dev = rt.device(kind);
      });

      it('reports the device and its attributes', ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const attrs = dev.attributes();
        expect(attrs.exists).toBe(true);
        if (kind === 'opencl') {
          expect(typeof attrs.name).toBe('string');
          expect(attrs.maxThreadsPerBlock).toBeGreaterThan(0);
          expect(attrs.warpSize).toBeGreaterThan(0);
          expect(attrs.totalGlobalMemory).toBeGreaterThan(0);
          expect(attrs.computeVersion).toMatch(/^\d+\.\d+$/);
        }
        expect(() => dev.sync()).not.toThrow();
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
        it(`round-trips ${dtype}`, ({ skip: skipTest }) => {
          if (skip) skipTest(skip);
          const data = make();
          const arr = rt.ndarray(data, [2, 3, 4], dtype, dev);
          expect(arr.shape).toEqual([2, 3, 4]);
          expect(arr.dtype).toBe(dtype);
          expect(arr.device.kind).toBe(kind);
          expect(arr.byteLength).toBe(data.byteLength);
          expect(arr.toTypedArray()).toEqual(data);
          arr.dispose();
          expect(arr.disposed).toBe(true);
          expect(() => arr.toTypedArray()).toThrow(tvm.DisposedError);
        });
      }

      it('copies raw bytes from a Buffer and refuses wrong sizes and element types', ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const arr = rt.empty([4], 'float32', dev);
        arr.copyFrom(Buffer.from(new Float32Array([1, 2, 3, 4]).buffer));
        expect(arr.toTypedArray()).toEqual(new Float32Array([1, 2, 3, 4]));
        expect(() => arr.copyFrom(new Float32Array(5))).toThrow(tvm.InvalidArgumentError);
        expect(() => arr.copyFrom(new Int32Array(4))).toThrow(tvm.InvalidArgumentError);
        arr.dispose();
      });

      it('refuses negative, fractional and absurd shapes and unknown dtypes', ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        expect(() => rt.empty([-1], 'float32', dev)).toThrow(tvm.InvalidArgumentError);
        expect(() => rt.empty([1.5], 'float32', dev)).toThrow(tvm.InvalidArgumentError);
        expect(() => rt.empty([2 ** 30, 2 ** 30, 2 ** 10], 'float32', dev)).toThrow(tvm.InvalidArgumentError);
        expect(() => rt.empty([2], 'complex64' as tvm.DType, dev)).toThrow(tvm.InvalidArgumentError);
      });
    });
  }
});
