// img2img and inpainting around the model: the strength -> first step rule against the
// timesteps diffusers ran (cases.json), the refusals before any device work (a model without
// vae_encode, a mask of another size, bad options), and DisposedError after dispose.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidArgumentError, InvalidImageError, RebuildRequiredError, StableDiffusion } from '../lib/index.js';
import { strengthBeginIndex } from '../lib/pipeline/noising.js';
import { createScheduler } from '../lib/schedulers/index.js';
import { allOf, sharedData, titled } from './support/shared-data.js';

const references = sharedData('golden-compile/tiny-sd-a/references', 'the tiny-sd-a references');
const runtime = sharedData('tvm/v0.26.0/linux-x64/libtvm_runtime.so', 'the TVM v0.26.0 runtime');
const standin = sharedData('fixtures/standin-tvm0.26', 'the TVM v0.26 stand-in model');
const tokenizer = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');

interface PipelineCase {
  id: string;
  call_kwargs: { strength?: number; num_inference_steps: number };
  timesteps_run: number[];
}

describe.skipIf(!references.available)(titled("strength -> timesteps as diffusers' get_timesteps", references), () => {
  const cases = references.available ? (JSON.parse(readFileSync(join(references.path, 'cases.json'), 'utf8')) as { cases: PipelineCase[] }).cases : [];
  for (const [id, scheduler] of [['img2img_pndm', 'pndm'], ['inpaint_ddim', 'ddim']] as const) {
    it(`${id}: the run starts where diffusers' did`, () => {
      const c = cases.find((x) => x.id === id)!;
      const steps = c.call_kwargs.num_inference_steps;
      const begin = strengthBeginIndex(steps, c.call_kwargs.strength!);
      const s = createScheduler(scheduler, { steps, timestepSpacing: 'leading', beginIndex: begin });
      expect(s.timesteps.slice(begin)).toEqual(c.timesteps_run);
    });
  }
  it('refuses a strength that leaves no step', () => {
    expect(() => strengthBeginIndex(4, 0.2)).toThrow(InvalidArgumentError);
    expect(strengthBeginIndex(4, 0.25)).toBe(3);
    expect(strengthBeginIndex(20, 0.75, 2)).toBe(10);
  });
});

const ready = allOf(runtime, standin, tokenizer, references);
describe.skipIf(!ready.available)(titled('img2img on a model built without vae_encode (the v0.26 stand-in)', ready), () => {
  let pipe: StableDiffusion;
  beforeAll(async () => {
    pipe = await StableDiffusion.load(standin.path, { tvmRuntime: runtime.path, tokenizer: tokenizer.path, device: 'cpu' });
  });
  afterAll(() => pipe?.dispose());
  const image = (): string => join(references.path, 'image_gradient.png');

  it('says the model must be rebuilt with sd-mali build', async () => {
    expect(pipe.info.canEncodeImages).toBe(false);
    expect(pipe.info.manifest).toBeUndefined();
    const err = await pipe.generate('x', { image: image(), strength: 0.5, steps: 2, seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RebuildRequiredError);
    expect((err as RebuildRequiredError).missing).toBe('vae_encode');
    expect((err as Error).message).toMatch(/sd-mali build/);
    // The pipeline is still usable.
    expect((await pipe.generate('x', { steps: 1, seed: 1 })).width).toBe(512);
  });

  it('refuses a mask of another size than its image, and options that make no sense', async () => {
    const wrongMask = { data: new Uint8Array(8 * 8 * 4), width: 8, height: 8 };
    await expect(pipe.generate('x', { image: image(), mask: wrongMask })).rejects.toMatchObject({ reason: 'size-mismatch' });
    await expect(pipe.generate('x', { image: image(), mask: wrongMask })).rejects.toBeInstanceOf(InvalidImageError);
    await expect(pipe.generate('x', { mask: image() })).rejects.toThrow(/needs the image/);
    await expect(pipe.generate('x', { strength: 0.5 })).rejects.toThrow(/pass an image/);
    await expect(pipe.generate('x', { image: image(), strength: 1.5 })).rejects.toThrow(/strength must be/);
    await expect(pipe.generate('x', { image: image(), latents: new Float32Array(4 * 64 * 64) })).rejects.toThrow(/not both/);
    await expect(pipe.generate('x', { image: Buffer.from('not an image'), strength: 0.5 })).rejects.toMatchObject({ reason: 'not-an-image' });
  });

  it('throws DisposedError from a disposed pipeline', async () => {
    const other = await StableDiffusion.load(standin.path, { tvmRuntime: runtime.path, tokenizer: tokenizer.path, device: 'cpu' });
    other.dispose();
    await expect(other.generate('x')).rejects.toBeInstanceOf(DisposedError);
    expect(() => other.info).toThrow(DisposedError);
  });
});
