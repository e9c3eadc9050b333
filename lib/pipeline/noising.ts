/**
 * What img2img and inpainting ask of a scheduler besides step(): where the run begins for a
 * strength (diffusers' get_timesteps) and the forward process that noises the encoded
 * image to a timestep (each scheduler class's add_noise), in float32 as torch computes them.
 */
import { InvalidArgumentError } from '../errors.js';
import { trainingSchedule, type Scheduler, type TrainingConfig } from '../schedulers/index.js';

const f32 = Math.fround;

/**
 * diffusers' get_timesteps: init_timestep = min(int(steps * strength), steps), the run
 * starts at index (steps - init_timestep) * order of the scheduler's timesteps. Returns
 * that index; throws when strength leaves no step (diffusers' ValueError).
 */
export function strengthBeginIndex(steps: number, strength: number, order = 1): number {
  // int() of the float64 product, as Python truncates it.
  const init = Math.min(Math.trunc(steps * strength), steps);
  const tStart = Math.max(steps - init, 0);
  if (steps - tStart < 1) {
    throw new InvalidArgumentError(`strength ${strength} with ${steps} steps leaves no denoising step (int(steps * strength) is 0); raise the strength or the steps`);
  }
  return tStart * order;
}

/** diffusers' `order` class attribute where it is not 1: Heun and KDPM2 (ancestral) call the model twice per step. */
const SECOND_ORDER = new Set(['heun', 'dpm2', 'dpm2-a']);

/** Model calls per inference step (the scheduler's own `order` if it has one): get_timesteps slices by it. */
export function schedulerOrder(scheduler: Scheduler): number {
  const order = (scheduler as { order?: unknown }).order;
  if (typeof order === 'number' && Number.isInteger(order) && order > 0) return order;
  return SECOND_ORDER.has(scheduler.name) ? 2 : 1;
}

/**
 * How a scheduler class noises a clean sample, by the space it works in:
 * - 'sigma': LMS, Euler, Euler ancestral, Heun, DPM2 (init noise sigma > 1): x + sigma * noise.
 * - 'alpha-sigma': DPM-Solver family, UniPC (sigmas, init noise sigma 1): alpha_t * x + sigma_t * noise
 *   with alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t.
 * - 'alphas-cumprod': PNDM, DDIM, DDPM, LCM (no sigmas): sqrt(a_t) * x + sqrt(1 - a_t) * noise.
 */
export type NoiseSpace = 'sigma' | 'alpha-sigma' | 'alphas-cumprod';

export function noiseSpace(scheduler: Scheduler): NoiseSpace {
  if (!scheduler.sigmas) return 'alphas-cumprod';
  return scheduler.initNoiseSigma > 1 ? 'sigma' : 'alpha-sigma';
}

/**
 * scheduler.add_noise(original, noise, timesteps[index]): the sample at step `index` of the
 * run for a clean `original`. The sigma-space classes look the sigma up by step index (after
 * set_begin_index, the begin index or the current step's), the others by timestep.
 */
export function addNoise(scheduler: Scheduler, training: TrainingConfig, original: Float32Array, noise: Float32Array, index: number): Float32Array {
  const out = new Float32Array(original.length);
  const space = noiseSpace(scheduler);
  if (space === 'alphas-cumprod') {
    const t = scheduler.timesteps[index];
    if (t === undefined) throw new RangeError(`add_noise: step ${index} is outside the ${scheduler.timesteps.length} timesteps`);
    const a = trainingSchedule(training).alphasCumprod[Math.round(t)]!;
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(f32(1 - a)));
    for (let k = 0; k < out.length; k++) out[k] = f32(f32(sqrtA * original[k]!) + f32(sqrtB * noise[k]!));
    return out;
  }
  const sigma = f32(scheduler.sigmas![index]!);
  if (space === 'sigma') {
    for (let k = 0; k < out.length; k++) out[k] = f32(original[k]! + f32(noise[k]! * sigma));
    return out;
  }
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  for (let k = 0; k < out.length; k++) out[k] = f32(f32(alpha * original[k]!) + f32(sigmaT * noise[k]!));
  return out;
}
