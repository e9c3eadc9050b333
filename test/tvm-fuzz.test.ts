// Thousands of wrong calls into the low-level API with the real runtime loaded: wrong
// types, disposed handles, negative and huge shapes, garbage `this`. Every one must end in
// a JavaScript exception, a rejection or a normal result; a crash would kill this test process.
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

  beforeAll(async () => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = await rt.loadModuleAsync(buildPackedFuncsLibrary(runtimeInfo.abi));
    if (standin.available) {
      const library = await rt.loadModuleAsync(join(standin.path, 'stable_diffusion_cpu.so'));
      vm = (await (await library.getFunctionAsync('vm_load_executable')).callAsync()) as tvm.Module;
      await (await vm.getFunctionAsync('vm_initialization')).callAsync(tvm.int(1), tvm.int(0), tvm.int(2));
    }
  });

  it('survives 4000 random invalid calls, each ending in an exception, a rejection or a result', async () => {
    const rand = rng(20261124);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const disposedArray = await rt.emptyAsync([3], 'float32');
    disposedArray.dispose();
    const disposedFn = await lib.getFunctionAsync('greet');
    disposedFn.dispose();
    const live = [await rt.emptyAsync([2, 2], 'float32'), await rt.emptyAsync([3], 'int32'), await rt.emptyAsync([0], 'uint8'), await rt.emptyAsync([1, 77], 'int32')];

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

    const callArgs = (): tvm.TvmArg[] => Array.from({ length: Math.floor(rand() * 5) }, garbage) as tvm.TvmArg[];
    const operations: Array<() => unknown> = [
      () => rt.emptyAsync(shapes() as number[], pick(['float32', 'int8', 'bool', 'float7', 'uint64', '']) as tvm.DType),
      () => rt.emptyAsync([2], 'float32', garbage() as tvm.Device),
      () => rt.native.emptyAsync(garbage() as number[], garbage() as string, garbage() as number, garbage() as number),
      () => rt.native.syncAsync(garbage() as number, garbage() as number),
      () => rt.native.prepareDeviceAsync(garbage() as number, garbage() as number),
      () => rt.native.loadModuleAsync(garbage() as string),
      () => rt.loadModuleAsync(pick(['/nonexistent.so', '', '/etc/passwd', '/dev/null', 'x'.repeat(5000)])),
      () => rt.device(garbage() as string, garbage() as number),
      () => rt.arrayAsync(Array.from({ length: 3 }, garbage) as tvm.NDArray[]),
      () => rt.native.getGlobalAsync(garbage() as string),
      () => pick(live).copyFromAsync(garbage() as ArrayBuffer),
      () => pick(live).native.copyFromAsync(garbage() as ArrayBuffer),
      () => pick(live).native.copyToAsync(garbage() as Uint8Array),
      () => disposedArray.toTypedArrayAsync(),
      async () => (await lib.getFunctionAsync(pick(functionNames))).callAsync(...callArgs()),
      () => lib.native.getFunctionAsync(garbage() as string, garbage() as boolean),
      async () => (vm ? (await vm.getFunctionAsync(pick(vmNames))).callAsync(...callArgs()) : 0),
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

    // Each call ends in a synchronous exception (bad arguments are refused before anything
    // is queued), or a Promise that settles: a failure either way is a proper Error
    // (InvalidArgumentError, TvmError, DisposedError...).
    const failures: unknown[] = [];
    let succeeded = 0;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < 4000; i++) {
      try {
        const result = pick(operations)();
        if (result instanceof Promise) {
          pending.push(result.then(() => void succeeded++, (e: unknown) => void failures.push(e)));
        } else {
          succeeded++;
        }
      } catch (err) {
        failures.push(err);
      }
    }
    await Promise.all(pending);
    for (const err of failures) expect(err).toBeInstanceOf(Error);
    expect(failures.length + succeeded).toBe(4000);
    expect(failures.length).toBeGreaterThan(2000);
    // The runtime still works after all that (fresh handles: the loop may have disposed some).
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
    lib = await rt.loadModuleAsync(buildPackedFuncsLibrary(runtimeInfo.abi));
    const x = await rt.ndarrayAsync(new Float32Array([1, 2]), [2], 'float32');
    const y = await rt.ndarrayAsync(new Float32Array([3, 4]), [2], 'float32');
    const z = await rt.emptyAsync([2], 'float32');
    await (await lib.getFunctionAsync('add_f32')).callAsync(x, y, z);
    expect(await z.toFloat32ArrayAsync()).toEqual(new Float32Array([4, 6]));
  });
});
