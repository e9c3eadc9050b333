/**
 * DPM-Solver++ 2M (DPMSolverMultistepScheduler defaults: dpmsolver++, order 2, midpoint,
 * lower_order_final) and its Karras-sigmas variant ("DPM++ 2M Karras").
 */
import { arange, f32, linspace, roundHalfEven } from './numpy-like.js';
import { integerTimestepScheduler, StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { interpolateSigmas, karrasSigmas, logF32, sigmaToT } from './sigma-schedule.js';
import { checkSteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule, type TimestepSpacing, type TrainingConfig } from './training-schedule.js';

export interface DpmSolverOptions extends SchedulerOptions {
  useKarrasSigmas?: boolean;
}

function dpmTimesteps(spacing: TimestepSpacing, steps: number, cfg: TrainingConfig): number[] {
  // lambda_min_clipped is -inf for SD: the whole range is used.
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

/** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t (float32). */
function alphaSigma(sigma: number): [number, number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return [alpha, f32(sigma * alpha)];
}

function lambdaOf(sigma: number): number {
  const [alpha, s] = alphaSigma(sigma);
  return f32(f32(Math.log(alpha)) - f32(Math.log(s)));
}

export function createDpmSolver(options: DpmSolverOptions): Scheduler {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const train = trainingSchedule(cfg);
  const finalSigmas = options.finalSigmasType ?? 'zero';
  let timesteps = dpmTimesteps(options.timestepSpacing ?? 'linspace', options.steps, cfg);
  let sigmas: number[];
  if (options.useKarrasSigmas) {
    const logSigmas = logF32(train.sigmas);
    sigmas = karrasSigmas([...train.sigmas].reverse(), options.steps);
    timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
  } else {
    sigmas = interpolateSigmas(train.sigmas, timesteps);
  }
  const a0 = train.alphasCumprod[0]!;
  const sigmaLast = finalSigmas === 'sigma_min' ? f32(Math.sqrt(f32(f32(1 - a0) / a0))) : 0;
  const sig = Float32Array.from([...sigmas, sigmaLast]);
  const n = timesteps.length;
  const name = options.useKarrasSigmas ? 'dpm++2m-karras' : 'dpm++2m';
  const counter = new StepCounter(name, n, options.beginIndex);
  let previous: Float32Array | undefined; // the last converted model output (m1)
  let lowerOrderNums = 0;

  return {
    ...integerTimestepScheduler(name, timesteps),
    sigmas: [...sig],
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const lowerOrderFinal = i === n - 1 && ((n < 15) || finalSigmas === 'zero');
      const len = sample.length;
      // convert_model_output: the data prediction x0 = (x - sigma_t * eps) / alpha_t.
      const [alphaS0, sigmaS0] = alphaSigma(sig[i]!);
      const m0 = new Float32Array(len);
      for (let k = 0; k < len; k++) m0[k] = f32(f32(sample[k]! - f32(sigmaS0 * modelOutput[k]!)) / alphaS0);

      const [alphaT, sigmaT] = alphaSigma(sig[i + 1]!);
      const lambdaT = lambdaOf(sig[i + 1]!);
      const lambdaS0 = lambdaOf(sig[i]!);
      const h = f32(lambdaT - lambdaS0);
      const ratio = f32(sigmaT / sigmaS0);
      const b = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
      const out = new Float32Array(len);
      if (lowerOrderNums < 1 || lowerOrderFinal || !previous) {
        for (let k = 0; k < len; k++) out[k] = f32(f32(ratio * sample[k]!) - f32(b * m0[k]!));
      } else {
        const m1 = previous;
        const lambdaS1 = lambdaOf(sig[i - 1]!);
        const h0 = f32(lambdaS0 - lambdaS1);
        const r0 = f32(h0 / h);
        const invR0 = f32(1 / r0);
        const c = f32(0.5 * b);
        for (let k = 0; k < len; k++) {
          const d1 = f32(invR0 * f32(m0[k]! - m1[k]!));
          out[k] = f32(f32(f32(ratio * sample[k]!) - f32(b * m0[k]!)) - f32(c * d1));
        }
      }
      previous = m0;
      if (lowerOrderNums < 2) lowerOrderNums++;
      return out;
    },
  };
}
