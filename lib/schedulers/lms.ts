/**
 * LMS (LMSDiscreteScheduler, order 4): linear multistep over the last four derivatives,
 * with coefficients integrated over each sigma interval. diffusers integrates the
 * Lagrange basis with scipy's quad; the basis is a cubic, so Gauss-Legendre with three
 * nodes is exact, and the result agrees to float32 precision.
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { sigmaSpaceScheduler } from './sigma-schedule.js';
import { sigmaSchedule } from './euler.js';

const GAUSS_NODES = [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)];
const GAUSS_WEIGHTS = [5 / 9, 8 / 9, 5 / 9];

/** The integral over [sigmas[t], sigmas[t+1]] of the Lagrange basis polynomial `current`. */
export function lmsCoefficient(sigmas: ArrayLike<number>, order: number, t: number, current: number): number {
  const basis = (tau: number): number => {
    let prod = 1;
    for (let k = 0; k < order; k++) {
      if (k === current) continue;
      prod *= (tau - sigmas[t - k]!) / (sigmas[t - current]! - sigmas[t - k]!);
    }
    return prod;
  };
  const a = sigmas[t]!;
  const b = sigmas[t + 1]!;
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  let sum = 0;
  for (let j = 0; j < GAUSS_NODES.length; j++) sum += GAUSS_WEIGHTS[j]! * basis(mid + half * GAUSS_NODES[j]!);
  return sum * half;
}

export function createLms(name: SchedulerName, options: SchedulerOptions, maxOrder = 4): Scheduler {
  const { timesteps, sigmas, spacing } = sigmaSchedule(options);
  const counter = new StepCounter(name, timesteps.length, options.beginIndex);
  const derivatives: Float32Array[] = [];
  return {
    ...sigmaSpaceScheduler(name, timesteps, sigmas, spacing),
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const sigma = sigmas[i]!;
      const n = sample.length;
      const derivative = new Float32Array(n);
      for (let k = 0; k < n; k++) {
        const x0 = f32(sample[k]! - f32(sigma * modelOutput[k]!));
        derivative[k] = f32(f32(sample[k]! - x0) / sigma);
      }
      derivatives.push(derivative);
      if (derivatives.length > maxOrder) derivatives.shift();
      const order = Math.min(i + 1, maxOrder);
      const coeffs = Array.from({ length: order }, (_, c) => f32(lmsCoefficient(sigmas, order, i, c)));
      const out = new Float32Array(n);
      for (let k = 0; k < n; k++) {
        // sum(coeff * derivative for ... zip(coeffs, reversed(derivatives))), then sample + sum.
        let acc = 0;
        // zip() stops at the shorter list: after a late begin (img2img) there are fewer
        // derivatives than the order asks for, and the extra coefficients go unused.
        for (let c = 0; c < Math.min(order, derivatives.length); c++) acc = f32(acc + f32(coeffs[c]! * derivatives[derivatives.length - 1 - c]![k]!));
        out[k] = f32(sample[k]! + acc);
      }
      return out;
    },
  };
}
