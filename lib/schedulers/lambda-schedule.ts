/**
 * What DPM-Solver (multistep and singlestep) and UniPC share: integer timesteps over the
 * training range, their sigmas (interpolated, or converted by a sigma schedule with the
 * timesteps mapped back), and the alpha/sigma/lambda of a sigma in float32 tensor ops.
 */
import { arange, f32, linspace, roundHalfEven } from './numpy-like.js';
import type { SchedulerOptions } from './scheduler.js';
import { convertSigmas, interpolateSigmas, logF32, sigmaToT } from './sigma-schedule.js';
import { checkSteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule, type TimestepSpacing, type TrainingConfig } from './training-schedule.js';

/** set_timesteps' integer timesteps (lambda_min_clipped is -inf for SD: the whole range). */
export function lambdaTimesteps(spacing: TimestepSpacing, steps: number, cfg: TrainingConfig): number[] {
  const last = cfg.numTrainTimesteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, last - 1, steps + 1).map(roundHalfEven).reverse().slice(0, -1);
    case 'leading': {
      const ratio = Math.floor(last / (steps + 1));
      return Array.from({ length: steps + 1 }, (_, i) => roundHalfEven(i * ratio)).reverse().slice(0, -1).map((t) => t + cfg.stepsOffset);
    }
    case 'trailing':
      return arange(last, 0, -cfg.numTrainTimesteps / steps).map((t) => roundHalfEven(t) - 1);
  }
}

export interface LambdaScheduleOptions {
  /** DPMSolverSinglestepScheduler has no timestep_spacing: always linspace. */
  fixedLinspace?: boolean;
  /** UniPC ends a converted (Karras, exponential, beta) schedule at its own last sigma for 'sigma_min'. */
  convertedSigmaMinIsLast?: boolean;
}

/** Integer timesteps and float32 sigmas (with the final sigma) of DPM-Solver and UniPC. */
export function lambdaSchedule(options: SchedulerOptions, how: LambdaScheduleOptions = {}): { timesteps: number[]; sigmas: Float32Array } {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const train = trainingSchedule(cfg);
  const spacing = how.fixedLinspace ? 'linspace' : (options.timestepSpacing ?? 'linspace');
  let timesteps = lambdaTimesteps(spacing, options.steps, cfg);
  let sigmas: number[];
  const schedule = options.sigmaSchedule;
  if (schedule) {
    const logSigmas = logF32(train.sigmas);
    sigmas = convertSigmas(schedule, [...train.sigmas].reverse(), options.steps);
    // Karras timesteps are rounded; exponential and beta ones truncated by the int64 cast.
    const toInt = schedule === 'karras' ? roundHalfEven : Math.trunc;
    timesteps = sigmas.map((s) => toInt(sigmaToT(s, logSigmas)));
  } else {
    sigmas = interpolateSigmas(train.sigmas, timesteps);
  }
  let last = 0;
  if (options.finalSigmasType === 'sigma_min') {
    const a0 = train.alphasCumprod[0]!;
    last = schedule && how.convertedSigmaMinIsLast ? sigmas[sigmas.length - 1]! : f32(Math.sqrt(f32(f32(1 - a0) / a0)));
  }
  return { timesteps, sigmas: Float32Array.from([...sigmas, last]) };
}

/** _sigma_to_alpha_sigma_t: alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t (float32). */
export function alphaSigma(sigma: number): [number, number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return [alpha, f32(sigma * alpha)];
}

/** lambda = log(alpha_t) - log(sigma_t), float32 (+inf at sigma 0). */
export function lambdaOf(sigma: number): number {
  const [alpha, s] = alphaSigma(sigma);
  return f32(f32(Math.log(alpha)) - f32(Math.log(s)));
}

/** convert_model_output for epsilon prediction: x0 = (x - sigma_t * eps) / alpha_t. */
export function dataPrediction(sample: Float32Array, modelOutput: Float32Array, sigma: number): Float32Array {
  const [alpha, s] = alphaSigma(sigma);
  const out = new Float32Array(sample.length);
  for (let k = 0; k < out.length; k++) out[k] = f32(f32(sample[k]! - f32(s * modelOutput[k]!)) / alpha);
  return out;
}
