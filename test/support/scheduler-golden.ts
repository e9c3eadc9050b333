/** The diffusers trajectories in ../shared/golden/schedulers and the synthetic model they used. */
import type { SchedulerName } from '../../lib/schedulers/index.js';

export const GOLDEN_FILES: ReadonlyArray<[string, SchedulerName]> = [
  ['pndm.json', 'pndm'],
  ['lms_discrete.json', 'lms'],
  ['dpmsolver_multistep.json', 'dpm++2m'],
  ['dpmsolver_multistep_karras.json', 'dpm++2m-karras'],
  ['euler_discrete.json', 'euler'],
  ['euler_ancestral_discrete.json', 'euler-a'],
  ['ddim.json', 'ddim'],
  ['heun_discrete.json', 'heun'],
  ['kdpm2_discrete.json', 'dpm2'],
  ['kdpm2_ancestral_discrete.json', 'dpm2-a'],
  ['dpmsolver_multistep_sde.json', 'dpm++2m-sde'],
  ['dpmsolver_multistep_sde_karras.json', 'dpm++2m-sde-karras'],
  ['dpmsolver_singlestep.json', 'dpm++2s'],
  ['unipc_multistep.json', 'unipc'],
  ['euler_discrete_karras.json', 'euler-karras'],
  ['lms_discrete_karras.json', 'lms-karras'],
  ['lcm.json', 'lcm'],
  ['ddpm.json', 'ddpm'],
];

export interface GoldenStep {
  t: number;
  model_input: number[];
  model_output: number[];
  prev_sample: number[];
  noise?: number[];
}

export interface GoldenRun {
  num_inference_steps: number;
  timesteps: number[];
  timesteps_dtype: string;
  sigmas: number[] | null;
  init_noise_sigma: number;
  x_init: number[];
  steps: GoldenStep[];
}

export interface GoldenFile {
  x0: number[];
  alphas_cumprod: number[];
  generator_seed: number;
  runs: GoldenRun[];
}

/**
 * The README's synthetic UNet: float32(0.3 * x + 0.1 * sin(0.01 * t + 0.05 * i)),
 * evaluated in float64, i the flat index of the latent.
 */
export function syntheticEps(x: Float32Array, t: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = 0.3 * x[i]! + 0.1 * Math.sin(0.01 * t + i * 0.05);
  return out;
}

/** ||a - b|| / ||b||. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

/** Distance in float32 units in the last place. */
export function ulpDistance(a: number, b: number): number {
  const buf = new Float32Array([a, b]);
  const bits = new Int32Array(buf.buffer);
  const key = (x: number): number => (x < 0 ? -2147483648 - x : x);
  return Math.abs(key(bits[0]!) - key(bits[1]!));
}
