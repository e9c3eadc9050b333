/**
 * The sigma-space schedules shared by LMS, Euler, Euler ancestral and DPM-Solver:
 * interpolating the training sigmas at the chosen timesteps, Karras' rho = 7 spacing, and
 * mapping a sigma back to a (fractional) timestep.
 */
import { betaPpf } from './beta-distribution.js';
import { f32, interpIndex, linspace, roundHalfEven } from './numpy-like.js';
import type { SigmaSchedule } from './names.js';
import type { Scheduler, SchedulerName } from './scheduler.js';

/** np.interp of the float32 training sigmas at each timestep (float64 results). */
export function interpolateSigmas(trainSigmas: Float32Array, timesteps: readonly number[]): number[] {
  return timesteps.map((t) => interpIndex(t, trainSigmas));
}

/** Karras et al. (2022) spacing between in_sigmas[-1] and in_sigmas[0], rho = 7 (float64). */
export function karrasSigmas(inSigmas: readonly number[], steps: number): number[] {
  const sigmaMin = inSigmas[inSigmas.length - 1]!;
  const sigmaMax = inSigmas[0]!;
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' _convert_to_exponential: log-uniform between in_sigmas[-1] and in_sigmas[0] (float64). */
export function exponentialSigmas(inSigmas: readonly number[], steps: number): number[] {
  const sigmaMin = inSigmas[inSigmas.length - 1]!;
  const sigmaMax = inSigmas[0]!;
  return linspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp);
}

/** diffusers' _convert_to_beta (alpha = beta = 0.6): sigma_min + ppf(1 - ramp) * (sigma_max - sigma_min). */
export function betaSigmas(inSigmas: readonly number[], steps: number, alpha = 0.6, beta = 0.6): number[] {
  const sigmaMin = inSigmas[inSigmas.length - 1]!;
  const sigmaMax = inSigmas[0]!;
  return linspace(0, 1, steps).map((r) => sigmaMin + betaPpf(1 - r, alpha, beta) * (sigmaMax - sigmaMin));
}

/**
 * diffusers' class-specific sigma conversion for a schedule type: in_sigmas is what each
 * class passes (its interpolated sigmas, or the reversed training sigmas for DPM/UniPC).
 */
export function convertSigmas(schedule: SigmaSchedule, inSigmas: readonly number[], steps: number): number[] {
  switch (schedule) {
    case 'karras':
      return karrasSigmas(inSigmas, steps);
    case 'exponential':
      return exponentialSigmas(inSigmas, steps);
    case 'beta':
      return betaSigmas(inSigmas, steps);
  }
}

/**
 * _sigma_to_t's low_idx: the last index whose log-sigma is <= log(sigma) (0 when none is),
 * clipped to len - 2. The training log-sigmas ascend, so the indices that pass form a
 * prefix and a binary search finds its end (cumsum(...).argmax() in diffusers).
 */
function lowIndex(logSigmas: Float32Array, below: (logSigma: number) => boolean): number {
  let lo = 0;
  let hi = logSigmas.length; // below() holds for [0, lo) and fails for [hi, len)
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (below(logSigmas[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(Math.max(lo - 1, 0), logSigmas.length - 2);
}

/** diffusers' _sigma_to_t: the fractional timestep whose log-sigma interpolates `sigma`. */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const low = lowIndex(logSigmas, (l) => logSigma - l >= 0);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}

/**
 * _sigma_to_t as KDPM2 calls it on torch tensors (its interpolated sigmas against the
 * float32 log_sigmas tensor): the same search, the arithmetic in float32.
 */
export function sigmaToTF32(sigma: number, logSigmas: Float32Array): number {
  const logSigma = f32(Math.log(f32(Math.max(sigma, 1e-10))));
  const low = lowIndex(logSigmas, (l) => f32(logSigma - l) >= 0);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(1, Math.max(0, f32(f32(lo - logSigma) / f32(lo - hi))));
  return f32(f32(f32(1 - w) * low) + f32(w * (low + 1)));
}

/** np.log of a float32 array: float32 results. */
export function logF32(values: Float32Array): Float32Array {
  return values.map((v) => f32(Math.log(v)));
}

/** sample / sqrt(sigma^2 + 1), the input scaling of the sigma-space schedulers (float32). */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  return sample.map((v) => f32(v / denom));
}

/** init_noise_sigma of the sigma-space schedulers: sigma_max, or sqrt(sigma_max^2 + 1) for leading spacing. */
export function sigmaInitNoise(sigmas: Float32Array, spacing: string): number {
  const max = sigmas.reduce((a, b) => Math.max(a, b), 0);
  return spacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
}

/** Everything but step() of a scheduler in sigma space (LMS, Euler, Euler ancestral). */
export function sigmaSpaceScheduler(name: SchedulerName, timesteps: number[], sigmas: Float32Array, spacing: string): Omit<Scheduler, 'step'> {
  return {
    name,
    timesteps,
    sigmas: [...sigmas],
    initNoiseSigma: sigmaInitNoise(sigmas, spacing),
    length: timesteps.length,
    scaleModelInput: (sample, i) => scaleBySigma(sample, sigmas[i]!),
    // A compiled UNet takes an int32 timestep: the float one rounded as numpy rounds.
    modelTimestep: (i) => roundHalfEven(timesteps[i]!),
  };
}
