/**
 * DPMSolverMultistepScheduler, order 2, midpoint, lower_order_final: DPM-Solver++ 2M
 * (algorithm_type "dpmsolver++", the default) and DPM++ 2M SDE ("sde-dpmsolver++", one
 * noise draw per step, the last one included), with any sigma schedule.
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { integerTimestepScheduler, StepCounter, type NoiseSource, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { alphaSigma, dataPrediction, lambdaOf, lambdaSchedule } from './lambda-schedule.js';
import { InvalidArgumentError } from '../errors.js';

export function createDpmSolver(name: SchedulerName, options: SchedulerOptions, sde = false): Scheduler {
  const { timesteps, sigmas: sig } = lambdaSchedule(options);
  const finalSigmas = options.finalSigmasType ?? 'zero';
  const n = timesteps.length;
  const counter = new StepCounter(name, n, options.beginIndex);
  let previous: Float32Array | undefined; // the last converted model output (m1)
  let lowerOrderNums = 0;

  return {
    ...integerTimestepScheduler(name, timesteps),
    sigmas: [...sig],
    step(modelOutput, i, sample, generator?: NoiseSource) {
      if (sde && !generator) throw new InvalidArgumentError(`${name}: step() needs a generator for its noise`);
      counter.take(i, modelOutput, sample);
      const lowerOrderFinal = i === n - 1 && (n < 15 || finalSigmas === 'zero');
      const len = sample.length;
      const m0 = dataPrediction(sample, modelOutput, sig[i]!);
      // The SDE variant draws before the update, in every step.
      const noise = sde ? generator!.randn([len]) : undefined;

      const [alphaT, sigmaT] = alphaSigma(sig[i + 1]!);
      const sigmaS0 = alphaSigma(sig[i]!)[1];
      const lambdaS0 = lambdaOf(sig[i]!);
      const h = f32(lambdaOf(sig[i + 1]!) - lambdaS0);
      const secondOrder = !(lowerOrderNums < 1 || lowerOrderFinal || !previous);
      let d1: ((k: number) => number) | undefined;
      if (secondOrder) {
        const m1 = previous!;
        const r0 = f32(f32(lambdaS0 - lambdaOf(sig[i - 1]!)) / h);
        const invR0 = f32(1 / r0);
        d1 = (k) => f32(invR0 * f32(m0[k]! - m1[k]!));
      }
      const out = new Float32Array(len);
      if (!sde) {
        // x_t = (sigma_t / sigma_s0) x - (alpha_t (e^-h - 1)) D0 - 0.5 (alpha_t (e^-h - 1)) D1
        const ratio = f32(sigmaT / sigmaS0);
        const b = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
        const c = f32(0.5 * b);
        for (let k = 0; k < len; k++) {
          const x = f32(f32(ratio * sample[k]!) - f32(b * m0[k]!));
          out[k] = d1 ? f32(x - f32(c * d1(k))) : x;
        }
      } else {
        // x_t = (sigma_t / sigma_s0 e^-h) x + (alpha_t (1 - e^-2h)) D0 [+ 0.5 (...) D1] + sigma_t sqrt(1 - e^-2h) noise
        const a = f32(f32(sigmaT / sigmaS0) * f32(Math.exp(-h)));
        const oneMinus = f32(1 - f32(Math.exp(f32(-2 * h))));
        const b = f32(alphaT * oneMinus);
        const c = f32(0.5 * b);
        const s = f32(sigmaT * f32(Math.sqrt(oneMinus)));
        for (let k = 0; k < len; k++) {
          let x = f32(f32(a * sample[k]!) + f32(b * m0[k]!));
          if (d1) x = f32(x + f32(c * d1(k)));
          out[k] = f32(x + f32(s * noise![k]!));
        }
      }
      previous = m0;
      if (lowerOrderNums < 2) lowerOrderNums++;
      return out;
    },
  };
}
