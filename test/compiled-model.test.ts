// The tiny golden model built by sd-mali's own compile flow (TVM v0.26), run through sd-mali's
// runtime: every entry function against diffusers' and transformers' outputs for the same
// weights, on cpu and PoCL, in FP32 and FP16. The pipeline-level cases are in
// compiled-pipeline.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadWeights, readWeightIndex, type ModelWeights } from '../lib/artifacts/index.js';
import type { ModelManifest } from '../lib/build/index.js';
import * as tvm from '../lib/tvm/index.js';
import { DeviceUnavailableError } from '../lib/errors.js';
import { StableDiffusion } from '../lib/pipeline/index.js';
import { tinyModel, TINY_SOURCE, type TinyDtype, type TinyTarget } from './support/compiled-models.js';
import { deviceUnavailable, TEST_LOAD_OPTIONS } from './support/devices.js';
import { excess, readNpy } from './support/npy.js';
import { allOf, testRuntime, titled } from './support/shared-data.js';

const runtimeInfo = testRuntime();
const refs = (name: string) => readNpy(join(TINY_SOURCE, 'references', name));

/**
 * FP32: the golden data's bound for single calls, |a − b| ≤ 1e-4·max(1,|b|) (a thread-count
 * change moved them 3e-6); a wrong formula moves them by 1e-3 or more.
 * FP16 against diffusers' own float16 pass: its README measured float16-vs-float32 spreads of
 * 3.5e-3 (text), 5e-3 (UNet), 6.8e-3 (encoder); two float16 implementations round
 * differently, so twice those.
 */
const TOLERANCE = {
  float32: { text: 1e-4, unet: 1e-4, encode: 1e-4, suffix: '' },
  float16: { text: 7e-3, unet: 1e-2, encode: 1.4e-2, suffix: '_fp16ref' },
} as const;

interface Variant {
  target: TinyTarget;
  device: 'cpu' | 'opencl';
  dtype: TinyDtype;
  /** Which reference cases to run: every one, or the first of each kind (float16 arithmetic is emulated on x86 CPUs, ~20x slower). */
  cases: 'all' | 'first';
}

const VARIANTS: Variant[] = [
  { target: 'cpu', device: 'cpu', dtype: 'float32', cases: 'all' },
  { target: 'opencl', device: 'opencl', dtype: 'float32', cases: 'all' },
  { target: 'cpu', device: 'cpu', dtype: 'float16', cases: 'first' },
];

/** PoCL builds each program on a function's first call: minutes on a busy 2-core machine. */
const FIRST_CALL_TIMEOUT_MS = 300_000;

for (const v of VARIANTS) {
  const model = tinyModel(v.target, v.dtype);
  const ready = { ...allOf(runtimeInfo, model), path: model.path };
  describe.skipIf(!ready.available || runtimeInfo.abi !== 'tvm-ffi')(titled(`compiled tiny-sd-a, ${v.target} ${v.dtype}`, ready), { timeout: FIRST_CALL_TIMEOUT_MS }, () => {
    const pick = <T>(all: T[]): T[] => (v.cases === 'all' ? all : all.slice(0, 1));
    const tol = TOLERANCE[v.dtype];
    let rt: tvm.TvmRuntime;
    let dev: tvm.Device;
    let vm: tvm.Module;
    let weights: ModelWeights;
    let skip = '';
    let manifest: ModelManifest;
    const call = async (fn: string, ...args: tvm.TvmArg[]): Promise<tvm.NDArray> => {
      const group = manifest.functions[fn]?.params;
      const list = group ? weights.get(group) : undefined;
      const params = list ? await rt.arrayAsync(list) : undefined;
      try {
        return (await (await vm.getFunctionAsync(fn)).callAsync(...args, ...(params ? [params] : []))) as tvm.NDArray;
      } finally {
        params?.dispose();
      }
    };

    beforeAll(async () => {
      rt = tvm.loadRuntime({ library: runtimeInfo.path });
      skip = await deviceUnavailable(rt, v.device);
      if (skip) return;
      dev = rt.device(v.device);
      manifest = JSON.parse(readFileSync(join(model.path, 'sd-mali.json'), 'utf8')) as ModelManifest;
      const exe = await rt.loadModuleAsync(join(model.path, manifest.executable));
      vm = (await (await exe.getFunctionAsync('vm_load_executable')).callAsync()) as tvm.Module;
      const init: tvm.TvmArg[] = [tvm.int(dev.deviceType), tvm.int(dev.deviceId), tvm.int(2)];
      if (v.device !== 'cpu') init.push(tvm.int(1), tvm.int(0), tvm.int(2));
      await (await vm.getFunctionAsync('vm_initialization')).callAsync(...init);
      weights = await loadWeights(rt, dev, await readWeightIndex(join(model.path, 'params')));
    });
    beforeEach((ctx) => {
      if (skip) ctx.skip();
    });
    afterAll(() => {
      for (const list of weights?.values() ?? []) for (const w of list) w.dispose();
      vm?.dispose();
    });

    it.each(pick([0, 1, 2]))('clip: text case %i equals transformers last_hidden_state', async (c) => {
      const ids = refs(`text_${c}_input_ids.npy`);
      const out = await call('clip', await rt.ndarrayAsync(ids.data as Int32Array, [1, 77], 'int32', dev));
      const expected = refs(`text_${c}_last_hidden_state${tol.suffix}.npy`);
      expect(out.shape).toEqual(expected.shape);
      const e = excess((await out.toFloat32ArrayAsync()), expected.data, tol.text);
      expect(e.worst, `max |a-b| ${e.maxAbs}`).toBeLessThanOrEqual(0);
    });

    it.each(pick([[0, 999], [1, 500], [2, 1]]))('unet: case %i (t=%i) at batch 2 is the unguided prediction; guidance on the host matches', async (c, t) => {
      const latents = refs(`unet_${c}_latents.npy`);
      const hidden = refs(`unet_${c}_encoder_hidden_states.npy`);
      const out = await call('unet', await rt.ndarrayAsync(latents.data as Float32Array, latents.shape, 'float32', dev), await rt.ndarrayAsync(Int32Array.of(t), [], 'int32', dev), await rt.ndarrayAsync(hidden.data as Float32Array, hidden.shape, 'float32', dev));
      const expected = refs(`unet_${c}_noise_pred${tol.suffix}.npy`);
      expect(out.shape).toEqual(expected.shape);
      const got = (await out.toFloat32ArrayAsync());
      const e = excess(got, expected.data, tol.unet);
      expect(e.worst, `max |a-b| ${e.maxAbs}`).toBeLessThanOrEqual(0);
      const half = got.length / 2;
      const guided = got.subarray(0, half).map((u, i) => Math.fround(u + Math.fround(7.5 * Math.fround(got[half + i]! - u))));
      const g = excess(guided, refs(`unet_${c}_noise_pred_guided${tol.suffix}.npy`).data, tol.unet * 10);
      expect(g.worst, `guided max |a-b| ${g.maxAbs}`).toBeLessThanOrEqual(0);
    });

    it('unet: batch 1 (guidance 1) gives the conditional half of batch 2', async () => {
      const latents = refs('unet_1_latents.npy');
      const hidden = refs('unet_1_encoder_hidden_states.npy');
      const cond = (hidden.data as Float32Array).subarray(77 * hidden.shape[2]!);
      const out = await call('unet', await rt.ndarrayAsync(latents.data as Float32Array, latents.shape, 'float32', dev), await rt.ndarrayAsync(Int32Array.of(500), [], 'int32', dev), await rt.ndarrayAsync(cond, [1, 77, hidden.shape[2]!], 'float32', dev));
      expect(out.shape).toEqual([1, ...latents.shape.slice(1)]);
      const expected = (refs(`unet_1_noise_pred${tol.suffix}.npy`).data as Float32Array);
      const e = excess((await out.toFloat32ArrayAsync()), expected.subarray(expected.length / 2), tol.unet);
      expect(e.worst, `max |a-b| ${e.maxAbs}`).toBeLessThanOrEqual(0);
    });

    it.each(pick([0, 1]))('vae: decode case %i rounds to diffusers uint8 image (±1 on ≥ 99 %% of values)', async (c) => {
      const latents = refs(`vae_decode_${c}_latents.npy`);
      const out = await call('vae', await rt.ndarrayAsync(latents.data as Float32Array, latents.shape, 'float32', dev));
      const expected = refs(`vae_decode_${c}_image_uint8${tol.suffix}.npy`);
      expect(out.shape).toEqual([1, ...expected.shape]);
      const got = (await out.toFloat32ArrayAsync());
      let equal = 0;
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - expected.data[i]!);
        worst = Math.max(worst, d);
        if (d === 0) equal++;
      }
      expect(worst).toBeLessThanOrEqual(v.dtype === 'float32' ? 1 : 2);
      expect(equal / got.length).toBeGreaterThanOrEqual(v.dtype === 'float32' ? 0.99 : 0.9);
    });

    it.each(pick([0, 1]))('vae_encode: image case %i gives latent_dist mean and std', async (c) => {
      const x = refs(`vae_encode_${c}_x.npy`);
      const out = await call('vae_encode', await rt.ndarrayAsync(x.data as Float32Array, x.shape, 'float32', dev));
      const mean = refs(`vae_encode_${c}_mean${tol.suffix}.npy`);
      const got = (await out.toFloat32ArrayAsync());
      expect(out.shape).toEqual([2, ...mean.shape.slice(1)]);
      const m = excess(got.subarray(0, mean.data.length), mean.data, tol.encode);
      expect(m.worst, `mean max |a-b| ${m.maxAbs}`).toBeLessThanOrEqual(0);
      const std = refs(`vae_encode_${c}_std${tol.suffix}.npy`);
      const s = excess(got.subarray(mean.data.length), std.data, tol.encode);
      expect(s.worst, `std max |a-b| ${s.maxAbs}`).toBeLessThanOrEqual(0);
    });
  });
}

// An FP16 build's kernels need cl_khr_fp16; PoCL's CPU device (the suite's OpenCL) has none.
const fp16Model = tinyModel('opencl', 'float16');
const fp16Ready = { ...allOf(runtimeInfo, fp16Model), path: fp16Model.path };
describe.skipIf(!fp16Ready.available || runtimeInfo.abi !== 'tvm-ffi')(titled('an FP16 build on an OpenCL device without cl_khr_fp16', fp16Ready), () => {
  it('is refused at load with the cause and the remedy, or runs where the device has it', async () => {
    const rt = tvm.loadRuntime({ library: runtimeInfo.path });
    if (await deviceUnavailable(rt, 'opencl')) return;
    const load = StableDiffusion.load(fp16Model.path, { ...TEST_LOAD_OPTIONS, device: 'opencl', tvmRuntime: runtimeInfo.path });
    const pipe = await load.catch((e: unknown) => e);
    if (pipe instanceof StableDiffusion) {
      // A device with cl_khr_fp16 (not PoCL): the build loads.
      expect(pipe.info.openClDevice?.fp16).toBe(true);
      pipe.dispose();
      return;
    }
    expect(pipe).toBeInstanceOf(DeviceUnavailableError);
    expect((pipe as DeviceUnavailableError).reason).toBe('no-fp16');
    expect((pipe as Error).message).toMatch(/FP16 build .* has no cl_khr_fp16.*--dtype float32/);
  });
});
