/**
 * The prepare-latents stage, one function per mode as diffusers' three pipelines have it,
 * with the random draws in their order from the one torch-identical generator:
 * - txt2img (StableDiffusionPipeline): the noise, times init_noise_sigma.
 * - img2img (StableDiffusionImg2ImgPipeline): the encoder's latent_dist.sample, then the
 *   noise; the run starts at the strength's timestep with the encoded image noised to it.
 * - inpaint (StableDiffusionInpaintPipeline, 4-channel UNet): the image's latent_dist.sample,
 *   the noise (pure noise at strength 1, else as img2img), then the masked image's sample,
 *   which only a 9-channel UNet reads but which still advances the generator. After every
 *   step the latents outside the mask are replaced by the image's latents noised to the
 *   next timestep (not noised after the last step).
 */
import { RebuildRequiredError } from '../errors.js';
import type { TorchGenerator } from '../random/index.js';
import type { Scheduler } from '../schedulers/index.js';
import type { NDArray } from '../tvm/index.js';
import { callEntry, type LoadedModel } from './loaded-model.js';
import { addNoise } from './noising.js';
import type { ResourceScope } from './resource-scope.js';

const f32 = Math.fround;

/** The blend an inpainting run applies after each step. */
export interface InpaintBlend {
  /** The encoded image (scaled latents). */
  imageLatents: Float32Array;
  /** The noise drawn for the start latents, re-used for every blend. */
  noise: Float32Array;
  /** 1 = repaint, 0 = keep, at latent resolution ([h, w], broadcast over channels). */
  latentMask: Uint8Array;
}

export interface PreparedLatents {
  latents: Float32Array;
  blend?: InpaintBlend;
}

/** The image as diffusers' image processor gives it to the VAE: NCHW float32, uint8 / 255 * 2 - 1. */
export function imageToTensor(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = f32(f32(2 * f32(rgb[p * 3 + c]! / 255)) - 1);
  }
  return out;
}

/**
 * The mask at latent resolution as F.interpolate(mode='nearest') picks it: latent pixel
 * (y, x) reads image pixel (floor(y * H / h), floor(x * W / w)).
 */
export function latentMask(mask: Uint8Array, image: { width: number; height: number }, latentShape: readonly number[]): Uint8Array {
  const h = latentShape[2]!;
  const w = latentShape[3]!;
  const scaleY = f32(image.height / h);
  const scaleX = f32(image.width / w);
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(Math.floor(f32(y * scaleY)), image.height - 1);
    for (let x = 0; x < w; x++) {
      const sx = Math.min(Math.floor(f32(x * scaleX)), image.width - 1);
      out[y * w + x] = mask[sy * image.width + sx]!;
    }
  }
  return out;
}

/** vae_encode and DiagonalGaussianDistribution.sample(generator), times the scaling factor. */
async function encodeImage(model: LoadedModel, scope: ResourceScope, rgb: Uint8Array, generator: TorchGenerator, purpose: string): Promise<Float32Array> {
  if (!model.info.canEncodeImages) throw new RebuildRequiredError(model.info.modelDir, 'vae_encode', purpose);
  const { runtime, device, geometry } = model;
  const { width, height } = geometry.image;
  const input = scope.add(await runtime.ndarrayAsync(imageToTensor(rgb, width, height), [1, 3, height, width], 'float32', device));
  const out: NDArray = scope.add(await callEntry(model, 'vae_encode', input, model.params.vae_encode!));
  const dist = await out.toFloat32ArrayAsync();
  const n = geometry.latentSize;
  const sample = await generator.randnAsync(geometry.latentShape);
  const scale = f32(geometry.vaeScalingFactor);
  const latents = new Float32Array(n);
  for (let k = 0; k < n; k++) latents[k] = f32(scale * f32(dist[k]! + f32(dist[n + k]! * sample[k]!)));
  return latents;
}

export async function prepareTxt2imgLatents(model: LoadedModel, scheduler: Scheduler, generator: TorchGenerator, given: Float32Array | undefined): Promise<PreparedLatents> {
  // In slices of the event loop: a [1,4,64,64] draw takes 20-25 ms the first time.
  const noise = given ?? (await generator.randnAsync(model.geometry.latentShape));
  const sigma = scheduler.initNoiseSigma;
  return { latents: noise.map((v) => f32(v * sigma)) };
}

export async function prepareImg2imgLatents(
  model: LoadedModel,
  scope: ResourceScope,
  scheduler: Scheduler,
  generator: TorchGenerator,
  rgb: Uint8Array,
  beginIndex: number,
): Promise<PreparedLatents> {
  const init = await encodeImage(model, scope, rgb, generator, 'img2img');
  const noise = await generator.randnAsync(model.geometry.latentShape);
  return { latents: addNoise(scheduler, model.geometry.training, init, noise, beginIndex) };
}

export async function prepareInpaintLatents(
  model: LoadedModel,
  scope: ResourceScope,
  scheduler: Scheduler,
  generator: TorchGenerator,
  rgb: Uint8Array,
  mask: Uint8Array,
  strength: number,
  beginIndex: number,
): Promise<PreparedLatents> {
  const { geometry } = model;
  const imageLatents = await encodeImage(model, scope, rgb, generator, 'inpainting');
  const noise = await generator.randnAsync(geometry.latentShape);
  const sigma = scheduler.initNoiseSigma;
  const latents = strength === 1 ? noise.map((v) => f32(v * sigma)) : addNoise(scheduler, geometry.training, imageLatents, noise, beginIndex);
  // The masked image's latent_dist.sample: read only by a 9-channel UNet, but drawn.
  await generator.randnAsync(geometry.latentShape);
  return { latents, blend: { imageLatents, noise, latentMask: latentMask(mask, geometry.image, geometry.latentShape) } };
}

/**
 * After step i: latents outside the mask become the image's latents noised to the next
 * timestep, (1 - mask) * add_noise(image, noise, t[i+1]) + mask * latents.
 */
export function blendInpaint(model: LoadedModel, scheduler: Scheduler, blend: InpaintBlend, latents: Float32Array, i: number): Float32Array {
  const last = i >= scheduler.length - 1;
  const proper = last ? blend.imageLatents : addNoise(scheduler, model.geometry.training, blend.imageLatents, blend.noise, i + 1);
  const plane = blend.latentMask.length;
  const out = new Float32Array(latents.length);
  // The mask is exactly 0 or 1, so the float32 blend is a choice between the two.
  for (let k = 0; k < out.length; k++) out[k] = blend.latentMask[k % plane] ? latents[k]! : proper[k]!;
  return out;
}
