/**
 * DPMSolverSinglestepScheduler with diffusers' defaults (dpmsolver++, order 2, midpoint):
 * steps alternate order 1 and 2 (get_order_list); an order-2 step restarts from the sample
 * saved at the order-1 step before it, using both data predictions.
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { integerTimestepScheduler, StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { alphaSigma, dataPrediction, lambdaOf, lambdaSchedule } from './lambda-schedule.js';

/** get_order_list for solver_order 2. */
export function singlestepOrders(steps: number, lowerOrderFinal: boolean, finalSigmasZero: boolean): number[] {
  const pairs = (count: number): number[] => Array.from({ length: 2 * count }, (_, i) => (i % 2) + 1);
  let orders: number[];
  if (lowerOrderFinal) orders = steps % 2 === 0 ? [...pairs(steps / 2 - 1), 1, 1] : [...pairs(Math.floor(steps / 2)), 1];
  else orders = pairs(Math.floor(steps / 2));
  if (finalSigmasZero) orders[orders.length - 1] = 1;
  return orders;
}

export function createDpmSinglestep(name: SchedulerName, options: SchedulerOptions): Scheduler {
  // The class has no timestep_spacing (from_config ignores one): always linspace.
  const { timesteps, sigmas: sig } = lambdaSchedule(options, { fixedLinspace: true });
  const n = timesteps.length;
  const finalZero = (options.finalSigmasType ?? 'zero') === 'zero';
  // set_timesteps turns lower_order_final on for an odd step count or a final sigma of 0.
  const orders = singlestepOrders(n, n % 2 !== 0 || finalZero, finalZero);
  const counter = new StepCounter(name, n, options.beginIndex);
  let previous: Float32Array | undefined;
  let saved: Float32Array | undefined; // the sample at the last order-1 step

  return {
    ...integerTimestepScheduler(name, timesteps),
    sigmas: [...sig],
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const m0 = dataPrediction(sample, modelOutput, sig[i]!);
      const m1 = previous;
      previous = m0;
      let order = orders[i]!;
      if (order === 2 && !m1) order = 1;
      if (order === 1) saved = sample;
      const x = saved!;
      const len = sample.length;
      const out = new Float32Array(len);
      const [alphaT, sigmaT] = alphaSigma(sig[i + 1]!);
      const lambdaT = lambdaOf(sig[i + 1]!);
      if (order === 1) {
        const h = f32(lambdaT - lambdaOf(sig[i]!));
        const ratio = f32(sigmaT / alphaSigma(sig[i]!)[1]);
        const b = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
        for (let k = 0; k < len; k++) out[k] = f32(f32(ratio * x[k]!) - f32(b * m0[k]!));
        return out;
      }
      // Order 2 from s1 = sigmas[i - 1] over two intervals: D0 = m1, D1 = (m0 - m1) / r0.
      const lambdaS0 = lambdaOf(sig[i]!);
      const lambdaS1 = lambdaOf(sig[i - 1]!);
      const h = f32(lambdaT - lambdaS1);
      const r0 = f32(f32(lambdaS0 - lambdaS1) / h);
      const invR0 = f32(1 / r0);
      const ratio = f32(sigmaT / alphaSigma(sig[i - 1]!)[1]);
      const b = f32(alphaT * f32(f32(Math.exp(-h)) - 1));
      const c = f32(0.5 * b);
      for (let k = 0; k < len; k++) {
        const d1 = f32(invR0 * f32(m0[k]! - m1![k]!));
        out[k] = f32(f32(f32(ratio * x[k]!) - f32(b * m1![k]!)) - f32(c * d1));
      }
      return out;
    },
  };
}
