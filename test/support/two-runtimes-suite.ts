/**
 * Two TVM runtimes of different ABIs in one process (say two pipelines): the second is
 * refused with a typed error and the first keeps working. Each order runs in its own
 * test file, so in its own process.
 */
import { describe, expect, it } from 'vitest';
import * as tvm from '../../lib/tvm/index.js';
import { RuntimeConflictError } from '../../lib/errors.js';
import { allOf, sharedData, titled } from './shared-data.js';

export function defineTwoRuntimesSuite(first: 'legacy' | 'tvm-ffi'): void {
  const legacy = sharedData('tvm/v0.20.0/linux-x64/libtvm_runtime.so', 'the TVM v0.20.0 runtime');
  const ffi = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
  const both = allOf(legacy, ffi);
  const [a, b] = first === 'legacy' ? [legacy, ffi] : [ffi, legacy];

  describe.skipIf(!both.available)(titled(`a ${first} runtime, then one of the other ABI, in one process`, both), () => {
    it('refuses the second runtime with a typed error and keeps the first working', async () => {
      const rt = tvm.loadRuntime({ library: a.path });
      expect(rt.abi).toBe(first);
      let caught: unknown;
      try {
        tvm.loadRuntime({ library: b.path });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RuntimeConflictError);
      expect(caught).toMatchObject({ loadedPath: a.path, requestedPath: b.path });
      expect((caught as Error).message).toContain(`another runtime file, ${a.path}, is already loaded in this process`);
      for (const kind of ['cpu', 'opencl'] as const) {
        const dev = rt.device(kind);
        if (!(await dev.existsAsync())) continue;
        const arr = await rt.ndarrayAsync(new Float32Array([1, 2, 3]), [3], 'float32', dev);
        expect(await arr.toFloat32ArrayAsync()).toEqual(new Float32Array([1, 2, 3]));
        arr.dispose();
      }
    });
  });
}
