// The pipeline on tiny-sd-a built by sd-mali's compile flow (TVM v0.26.0), against diffusers'
// own runs of the same model (../shared/golden-compile/tiny-sd-a/references): txt2img with
// guidance on the host (PNDM, Euler a) and without (DPM++ at guidance 1, LCM: batch-1 UNet
// calls), img2img (PNDM, strength 0.6) and inpainting (4-channel UNet, DDIM), on cpu and
// PoCL. Tolerances are the golden README's for a float32 build: final latents
// |a - b| <= 1e-3 * max(1, |b|); uint8 images within 1 on >= 99 % of values, 2 at most.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StableDiffusion, type GenerateOptions } from '../lib/index.js';
import { isSchedulerName } from '../lib/schedulers/index.js';
import * as tvm from '../lib/tvm/index.js';
import { deviceUnavailable, TEST_LOAD_OPTIONS } from './support/devices.js';
import { readNpyF32, readNpyU8 } from './support/npy.js';
import { sharedData, titled } from './support/shared-data.js';
import { tinyModel, type TinyTarget } from './support/compiled-models.js';

const LATENT_TOLERANCE = 1e-3;
/** Building the OpenCL programs on PoCL the first time. */
const FIRST_RUN_TIMEOUT = 900_000;
const CASE_TIMEOUT = 300_000;
const runtime = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const PROMPT = 'a photograph of an astronaut riding a horse';

interface GoldenCase {
  id: string;
  options: () => GenerateOptions;
  unetCalls: number;
  /** The embeddings batch of each UNet call: 2 with guidance, 1 without. */
  needs?: string;
}

const ref = (file: string): string => join(references.path, file);
// Every reference pipeline made its scheduler with X.from_config(pipe.scheduler.config): PNDM's leading spacing.
const leading = { timestepSpacing: 'leading' as const };

const CASES: GoldenCase[] = [
  { id: 'txt2img_pndm', unetCalls: 11, options: () => ({ negativePrompt: 'blurry', steps: 10, scheduler: 'pndm', schedulerOptions: leading, guidanceScale: 7.5, seed: 42 }) },
  { id: 'txt2img_euler_a', unetCalls: 8, options: () => ({ steps: 8, scheduler: 'euler-a', schedulerOptions: leading, guidanceScale: 7.5, seed: 7 }) },
  { id: 'txt2img_dpmpp_nocfg', unetCalls: 6, options: () => ({ steps: 6, scheduler: 'dpm++2m', schedulerOptions: leading, guidanceScale: 1, seed: 3 }) },
  {
    id: 'img2img_pndm',
    unetCalls: 7,
    options: () => ({ image: ref('image_gradient.png'), strength: 0.6, steps: 10, scheduler: 'pndm', schedulerOptions: leading, guidanceScale: 7.5, seed: 11 }),
  },
  {
    id: 'inpaint_ddim',
    unetCalls: 10,
    options: () => ({ image: ref('image_random.png'), mask: ref('inpaint_mask.png'), strength: 1, steps: 10, scheduler: 'ddim', schedulerOptions: leading, guidanceScale: 7.5, seed: 5 }),
  },
  { id: 'txt2img_lcm', unetCalls: 4, needs: 'lcm', options: () => ({ steps: 4, scheduler: 'lcm' as 'pndm', schedulerOptions: leading, guidanceScale: 1, seed: 9 }) },
];

/** The worst |a - b| / max(1, |b|). */
function worstRelative(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

/** RGB of an RGBA image against an HWC uint8 reference: the share of values within 1, and the largest difference. */
function compareImage(rgba: Uint8Array, rgb: Uint8Array): { withinOne: number; max: number } {
  let within = 0;
  let max = 0;
  for (let p = 0; p < rgb.length / 3; p++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(rgba[p * 4 + c]! - rgb[p * 3 + c]!);
      if (d <= 1) within++;
      max = Math.max(max, d);
    }
  }
  return { withinOne: within / rgb.length, max };
}

const ready = runtime.available && references.available;
for (const target of ['cpu', 'opencl'] as const satisfies readonly TinyTarget[]) {
  const model = tinyModel(target, 'float32');
  const available = ready && model.available;
  const reason = runtime.reason || references.reason || model.reason;
  describe.skipIf(!available)(titled(`tiny-sd-a float32 on ${target} against diffusers`, { available, reason, path: '' }), () => {
    let pipe: StableDiffusion;
    let skip = '';
    // PoCL builds every OpenCL program of the model the first time (minutes on a 2-core
    // machine): the warmup does it here, and the image tests each get room for vae_encode's.
    beforeAll(async () => {
      skip = await deviceUnavailable(tvm.loadRuntime({ library: runtime.path }), target);
      if (!skip) pipe = await StableDiffusion.load(model.path, { ...TEST_LOAD_OPTIONS, tvmRuntime: runtime.path, device: target, warmup: true });
    }, FIRST_RUN_TIMEOUT);
    afterAll(() => pipe?.dispose());

    it('reports the manifest: precision, target, TVM version, functions, 128x128 with 16x16 latents', ({ skip: skipTest }) => {
      if (skip) skipTest(skip);
      const info = pipe.info;
      expect(info.manifest).toMatchObject({ precision: 'float32', tvmVersion: '0.26.0' });
      expect(info.manifest!.functions).toEqual(expect.arrayContaining(['clip', 'unet', 'vae', 'vae_encode', 'image_to_rgba']));
      expect(info.imageSize).toEqual({ width: 128, height: 128 });
      expect(info.latentShape).toEqual([1, 4, 16, 16]);
      expect(info.canEncodeImages).toBe(true);
      expect(info.guidanceBaked).toBe(false);
      expect(info.weights.models['vaeEncode']?.count).toBeGreaterThan(0);
    });

    for (const c of CASES) {
      it(`${c.id}: final latents and image match diffusers`, async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        if (c.needs && !isSchedulerName(c.needs)) skipTest(`the ${c.needs} scheduler is not in this build of lib/schedulers`);
        const image = await pipe.generate(PROMPT, c.options());
        expect(image.timings.unetMs).toHaveLength(c.unetCalls);
        expect([image.width, image.height]).toEqual([128, 128]);
        expect(worstRelative(image.latents, readNpyF32(ref(`pipe_${c.id}_latents.npy`)))).toBeLessThanOrEqual(LATENT_TOLERANCE);
        const { withinOne, max } = compareImage(image.rgba, readNpyU8(ref(`pipe_${c.id}_image_uint8.npy`)));
        expect(withinOne).toBeGreaterThanOrEqual(0.99);
        expect(max).toBeLessThanOrEqual(2);
      }, CASE_TIMEOUT);
    }

    it('img2img: the latents after every step follow diffusers', async ({ skip: skipTest }) => {
      if (skip) skipTest(skip);
      const steps: Float32Array[] = [];
      const options = CASES.find((c) => c.id === 'img2img_pndm')!.options();
      await pipe.generate(PROMPT, { ...options, onStep: (s) => steps.push(s.latents) });
      const perStep = readNpyF32(ref('pipe_img2img_pndm_latents_per_step.npy'));
      const n = 4 * 16 * 16;
      expect(steps).toHaveLength(perStep.length / n);
      steps.forEach((s, i) => expect(worstRelative(s, perStep.subarray(i * n, (i + 1) * n))).toBeLessThanOrEqual(LATENT_TOLERANCE));
    }, CASE_TIMEOUT);
  });
}

/**
 * float16 builds: diffusers has no float16 pipeline references here (only per function, the
 * compile flow's own tests), so the bound is loose but still catches a wrong formula: the
 * final latents within a relative L2 distance of 0.1 of diffusers' float32 run (measured on
 * cpu: 0.003 for DPM++ at guidance 1 to 0.034 for Euler a; a wrong step or a skipped draw is
 * of order 1).
 */
const FP16_RELATIVE_L2 = 0.1;

function relativeL2(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

// On the CPU only: PoCL's device has no cl_khr_fp16, so an FP16 build's OpenCL kernels do
// not build there (as test/compiled-model.test.ts runs its float16 cases).
for (const target of ['cpu'] as const satisfies readonly TinyTarget[]) {
  const model = tinyModel(target, 'float16');
  const available = ready && model.available;
  const reason = runtime.reason || references.reason || model.reason;
  describe.skipIf(!available)(titled(`tiny-sd-a float16 on ${target}`, { available, reason, path: '' }), () => {
    let pipe: StableDiffusion;
    let skip = '';
    beforeAll(async () => {
      skip = await deviceUnavailable(tvm.loadRuntime({ library: runtime.path }), target);
      if (!skip) pipe = await StableDiffusion.load(model.path, { ...TEST_LOAD_OPTIONS, tvmRuntime: runtime.path, device: target, warmup: true });
    }, FIRST_RUN_TIMEOUT);
    afterAll(() => pipe?.dispose());

    it('loads float16 weight records and says so', ({ skip: skipTest }) => {
      if (skip) skipTest(skip);
      expect(pipe.info.manifest?.precision).toBe('float16');
      expect(pipe.info.weights.dtypes).toContain('float16');
    });

    for (const id of ['img2img_pndm', 'inpaint_ddim', 'txt2img_lcm']) {
      it(`${id}: final latents near diffusers' float32 run`, async ({ skip: skipTest }) => {
        if (skip) skipTest(skip);
        const c = CASES.find((x) => x.id === id)!;
        const image = await pipe.generate(PROMPT, c.options());
        expect(image.timings.unetMs).toHaveLength(c.unetCalls);
        expect(relativeL2(image.latents, readNpyF32(ref(`pipe_${id}_latents.npy`)))).toBeLessThanOrEqual(FP16_RELATIVE_L2);
      }, CASE_TIMEOUT);
    }
  });
}
