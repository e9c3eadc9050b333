// Thousands of wrong calls into the low-level API with the real runtime loaded: wrong
// types, disposed handles, negative and huge shapes, garbage `this`. Every one must end in
// a JavaScript exception or a normal return; a crash would kill this test process.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tvm from '../lib/tvm/index.js';
import { nativeBinding } from '../lib/tvm/native.js';
import { buildPackedFuncsLibrary } from './support/c-libraries.js';
import { sharedData, testRuntime, testStandin, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = testStandin();

/** xorshift32: the same sequence of cases every run, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

describe.skipIf(!runtimeInfo.available)(titled('fuzzing the low-level API', runtimeInfo), () => {
  let rt: tvm.TvmRuntime;
  let lib: tvm.Module;
  let vm: tvm.Module | undefined;

  beforeAll(() => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = rt.loadModule(buildPackedFuncsLibrary(runtimeInfo.abi));
    if (standin.available) {
      vm = rt.loadModule(join(standin.path, 'stable_diffusion_cpu.so')).getFunction('vm_load_executable').call() as tvm.Module;
      vm.getFunction('vm_initialization').call(tvm.int(1), tvm.int(0), tvm.int(2));
    }
  });

  it('survives 4000 random invalid calls, each ending in an exception or a return', async () => {
    const rand = rng(20261124);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const disposedArray = rt.empty([3], 'float32');
    disposedArray.dispose();
    const disposedFn = lib.getFunction('greet');
    disposedFn.dispose();
    const live = [rt.empty([2, 2], 'float32'), rt.empty([3], 'int32'), rt.empty([0], 'uint8'), rt.empty([1, 77], 'int32')];

    const garbage = (): unknown =>
      pick<() => unknown>([
        () => undefined,
        () => null,
        () => Math.floor(rand() * 2000) - 1000,
        () => rand() * 1e300,
        () => Number.NaN,
        () => -0,
        () => BigInt(Math.floor(rand() * 1e6)) * 10n ** 20n,
        () => 'x'.repeat(Math.floor(rand() * 100)),
        () => Symbol('s'),
        () => ({}),
        () => ({ kind: 'int', value: 'nope' }),
        () => ({ kind: 'float', value: 1n }),
        () => ({ kind: 'device', deviceType: -3, deviceId: 1e12 }),
        () => ({ kind: 'dtype', value: 'float7' }),
        () => ({ kind: pick(['int', 'float', 'device', 'dtype', 'bogus']) }),
        () => [1, 2, 3],
        () => new Float64Array(3),
        () => new Uint8Array(5),
        () => () => 1,
        () => disposedArray,
        () => disposedFn,
        () => pick(live),
        () => lib,
        () => tvm.int(Math.floor(rand() * 100)),
        () => tvm.float(rand()),
        () => rt.device('cpu'),
      ])();

    const shapes = (): unknown =>
      pick<() => unknown>([
        () => [-1],
        () => [1.5, 2],
        () => [2 ** 53],
        () => [2 ** 40, 2 ** 40],
        () => Array.from({ length: 40 }, () => 1),
        () => 'not a shape',
        () => [Number.NaN],
        () => [{}],
        () => [Math.floor(rand() * 4), Math.floor(rand() * 4)],
        () => null,
      ])();

    const b = nativeBinding();
    const natives: unknown[] = [b.NativeNDArray, b.NativeModule, b.NativePackedFunction, b.NativeObject, b.NativeRuntime];
    const functionNames = ['add_f32', 'scale', 'raise_error', 'greet'];
    const vmNames = ['clip', 'unet', 'vae', 'concat_embeddings', 'image_to_rgba', 'pndm_scheduler_step_3'];

    const operations: Array<() => unknown> = [
      () => rt.empty(shapes() as number[], pick(['float32', 'int8', 'bool', 'float7', 'uint64', '']) as tvm.DType),
      () => rt.empty([2], 'float32', garbage() as tvm.Device),
      () => rt.native.empty(garbage() as number[], garbage() as string, garbage() as number, garbage() as number),
      () => rt.native.sync(garbage() as number, garbage() as number),
      () => rt.native.loadModule(garbage() as string),
      () => rt.loadModule(pick(['/nonexistent.so', '', '/etc/passwd', '/dev/null', 'x'.repeat(5000)])),
      () => rt.device(garbage() as string, garbage() as number),
      () => rt.array(Array.from({ length: 3 }, garbage) as tvm.NDArray[]),
      () => rt.native.getGlobal(garbage() as string),
      () => pick(live).copyFrom(garbage() as ArrayBuffer),
      () => pick(live).native.copyFrom(garbage() as ArrayBuffer),
      () => pick(live).native.copyTo(garbage() as Uint8Array),
      () => disposedArray.toTypedArray(),
      () => lib.getFunction(pick(functionNames)).call(...(Array.from({ length: Math.floor(rand() * 5) }, garbage) as tvm.TvmArg[])),
      () => lib.native.getFunction(garbage() as string, garbage() as boolean),
      () => (vm ? vm.getFunction(pick(vmNames)).call(...(Array.from({ length: Math.floor(rand() * 5) }, garbage) as tvm.TvmArg[])) : 0),
      () => {
        const cls = pick(natives) as { prototype: Record<string, unknown> };
        const method = pick(Object.getOwnPropertyNames(cls.prototype).filter((n) => n !== 'constructor' && n !== 'dispose'));
        const desc = Object.getOwnPropertyDescriptor(cls.prototype, method)!;
        const target = pick([{}, pick(live).native, lib.native, rt.native]);
        const f = (desc.value ?? desc.get) as (...a: unknown[]) => unknown;
        return f.call(target, garbage(), garbage(), garbage(), garbage());
      },
      () => new (pick(natives) as new () => { dispose(): void })().dispose(),
      () => b.openRuntime(garbage() as string),
    ];

    let threw = 0;
    let returned = 0;
    const asyncCalls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 4000; i++) {
      try {
        if (i % 50 === 0) {
          asyncCalls.push(lib.getFunction(pick(functionNames)).callAsync(...(Array.from({ length: 2 }, garbage) as tvm.TvmArg[])).catch((e: unknown) => e));
        }
        const result = pick(operations)();
        // The native API has asynchronous methods too: what they reject with is checked below.
        if (result instanceof Promise) asyncCalls.push(result.catch((e: unknown) => e));
        returned++;
      } catch (err) {
        // Every failure is a proper Error (InvalidArgumentError, TvmError, DisposedError...).
        expect(err).toBeInstanceOf(Error);
        threw++;
      }
    }
    for (const outcome of await Promise.all(asyncCalls)) {
      if (outcome !== null && typeof outcome === 'object') expect(outcome).toBeInstanceOf(Object);
    }
    expect(threw + returned).toBe(4000);
    expect(threw).toBeGreaterThan(2000);
    // The runtime still works after all that (fresh handles: the loop may have disposed some).
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = rt.loadModule(buildPackedFuncsLibrary(runtimeInfo.abi));
    const x = rt.ndarray(new Float32Array([1, 2]), [2], 'float32');
    const y = rt.ndarray(new Float32Array([3, 4]), [2], 'float32');
    const z = rt.empty([2], 'float32');
    lib.getFunction('add_f32').call(x, y, z);
    expect(z.toFloat32Array()).toEqual(new Float32Array([4, 6]));
  });
});
