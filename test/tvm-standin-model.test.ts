// The low-level API on the stand-in model compiled by this runtime's TVM (exact layout of the real
// SD dist): load the VM, initialise it, call its functions with weights as an Array object,
// and check the results against values computed here from the model's definition.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWeights, readWeightIndex, type ModelWeights } from '../lib/artifacts/index.js';
import * as tvm from '../lib/tvm/index.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { allOf, REPO_ROOT, testRuntime, testStandin, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const ready = allOf(runtimeInfo, standin);

/** clip() of the stand-in in float64, from its README's definition. */
function referenceClip(ids: Int32Array, w: Float32Array[]): Float64Array {
  const [tok, projW, projB, pos, gamma, beta] = w as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const out = new Float64Array(77 * 768);
  const h = new Float64Array(768);
  for (let t = 0; t < 77; t++) {
    const id = ids[t]!;
    for (let j = 0; j < 768; j++) {
      let s = projB[j]! + pos[t * 768 + j]!;
      for (let k = 0; k < 8; k++) s += tok[id * 8 + k]! * projW[k * 768 + j]!;
      h[j] = s;
    }
    let mean = 0;
    for (let j = 0; j < 768; j++) mean += h[j]!;
    mean /= 768;
    let variance = 0;
    for (let j = 0; j < 768; j++) variance += (h[j]! - mean) ** 2;
    variance /= 768;
    const inv = 1 / Math.sqrt(variance + 1e-5);
    for (let j = 0; j < 768; j++) out[t * 768 + j] = (h[j]! - mean) * inv * gamma[j]! + beta[j]!;
  }
  return out;
}

describe.skipIf(!ready.available)(titled('stand-in model through the low-level API', ready), () => {
  let rt: tvm.TvmRuntime;
  beforeAll(() => {
    rt = tvm.loadRuntime({ library: runtimeInfo.path });
  });

  for (const kind of TEST_DEVICES) {
    describe(kind, () => {
      let skip = '';
      let vm: tvm.Module;
      let dev: tvm.Device;
      let weights: ModelWeights;
      beforeAll(async () => {
        skip = await deviceUnavailable(rt, kind);
        if (skip) return;
        dev = rt.device(kind);
        const exe = await rt.loadModuleAsync(join(standin.path, `stable_diffusion_${kind}.so`));
        vm = (await (await exe.getFunctionAsync('vm_load_executable')).callAsync()) as tvm.Module;
        const init: tvm.TvmArg[] = [tvm.int(dev.deviceType), tvm.int(dev.deviceId), tvm.int(2)];
        if (kind !== 'cpu') init.push(tvm.int(1), tvm.int(0), tvm.int(2));
        expect(await (await vm.getFunctionAsync('vm_initialization')).callAsync(...init)).toBeNull();
        weights = await loadWeights(rt, dev, await readWeightIndex(join(standin.path, 'params')));
      });
      afterAll(() => {
        for (const list of weights?.values() ?? []) for (const w of list) w.dispose();
        vm?.dispose();
      });

      it('concat_embeddings stacks its two inputs on axis 0', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const a = Float32Array.from({ length: 77 * 768 }, (_, i) => i * 1e-3);
        const b = Float32Array.from({ length: 77 * 768 }, (_, i) => -i);
        const out = (await (await vm.getFunctionAsync('concat_embeddings')).callAsync(
          await rt.ndarrayAsync(a, [1, 77, 768], 'float32', dev),
          await rt.ndarrayAsync(b, [1, 77, 768], 'float32', dev),
        )) as tvm.NDArray;
        expect(out.shape).toEqual([2, 77, 768]);
        const got = await out.toFloat32ArrayAsync();
        expect(got.subarray(0, a.length)).toEqual(a);
        expect(got.subarray(a.length)).toEqual(b);
      });

      it('image_to_rgba packs R | G<<8 | B<<16 | 255<<24', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const px = Float32Array.from({ length: 512 * 512 * 3 }, (_, i) => (i * 37) % 256);
        const out = (await (await vm.getFunctionAsync('image_to_rgba')).callAsync(await rt.ndarrayAsync(px, [1, 512, 512, 3], 'float32', dev))) as tvm.NDArray;
        expect(out.shape).toEqual([512, 512]);
        expect(out.dtype).toBe('uint32');
        const got = (await out.toTypedArrayAsync()) as Uint32Array;
        for (let p = 0; p < 512 * 512; p += 997) {
          const expected = (px[3 * p]! | (px[3 * p + 1]! << 8) | (px[3 * p + 2]! << 16) | (255 << 24)) >>> 0;
          expect(got[p]).toBe(expected);
        }
      });

      it('clip takes its weights as one Array object and matches the model definition', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const ids = new Int32Array(77).fill(49407);
        ids[0] = 49406;
        [320, 1125, 539, 550, 18376, 6765, 4605, 1001].forEach((id, i) => (ids[i + 1] = id));
        const clipWeights = weights.get('clip')!;
        expect(clipWeights).toHaveLength(6);
        const params = await rt.arrayAsync(clipWeights);
        const out = (await (await vm.getFunctionAsync('clip')).callAsync(await rt.ndarrayAsync(ids, [1, 77], 'int32', dev), params)) as tvm.NDArray;
        expect(out.shape).toEqual([1, 77, 768]);
        const host = await Promise.all(clipWeights.map((w) => w.toFloat32ArrayAsync()));
        const expected = referenceClip(ids, host);
        const got = await out.toFloat32ArrayAsync();
        let maxErr = 0;
        for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - expected[i]!));
        // float32 layer norm over 768 values vs float64: a few 1e-6 (the fixture saw 6e-6).
        expect(maxErr).toBeLessThan(1e-4);
        params.dispose();
      });

      it('a wrong shape or dtype is a TvmError naming the parameter, not a crash', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const clip = await vm.getFunctionAsync('clip');
        const params = await rt.arrayAsync(weights.get('clip')!);
        await expect(clip.callAsync(await rt.emptyAsync([1, 76], 'int32', dev), params)).rejects.toThrow(/input_ids/);
        await expect(clip.callAsync(await rt.emptyAsync([1, 77], 'float32', dev), params)).rejects.toThrow(tvm.TvmError);
        await expect(clip.callAsync(await rt.emptyAsync([1, 77], 'int32', dev))).rejects.toThrow(tvm.TvmError);
        params.dispose();
      });

      it('reads the weights the same from raw and f32-to-bf16 records', async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const raw = await loadWeights(rt, dev, await readWeightIndex(join(standin.path, 'params-raw')));
        for (const [model, list] of weights) {
          const other = raw.get(model)!;
          for (const [i, w] of list.entries()) expect(await other[i]!.toFloat32ArrayAsync()).toEqual(await w.toFloat32ArrayAsync());
        }
        for (const list of raw.values()) for (const w of list) w.dispose();
      });
    });
  }
});

describe.skipIf(!ready.available)(titled('process exit after OpenCL work', ready), () => {
  // In a child process of its own: the exit status is the test.
  for (const mode of ['keep', 'dispose'] as const) {
    it(`exits 0 with its modules ${mode === 'keep' ? 'still alive' : 'disposed'} after an OpenCL kernel ran`, async ({ skip }) => {
      const rt = tvm.loadRuntime({ library: runtimeInfo.path });
      const why = await deviceUnavailable(rt, 'opencl');
      if (why) skip(why);
      const script = join(REPO_ROOT, 'test', 'fixtures', 'exit-with-live-modules.mjs');
      const api = pathToFileURL(join(REPO_ROOT, 'dist', 'lib', 'tvm', 'index.js')).href;
      const child = spawn(process.execPath, [script, api, runtimeInfo.path, join(standin.path, 'stable_diffusion_opencl.so'), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      expect({ status, signal, err: err.split('\n').filter((l) => !l.includes('Using CPU OpenCL device')).join('\n').trim() }).toEqual({ status: 0, signal: null, err: '' });
      // image_to_rgba of a uniform 128.0 image: R, G, B 128, alpha 255.
      expect(out).toBe('pixel 128,128,128,255\n');
    }, 120_000);
  }
});
