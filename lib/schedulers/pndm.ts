/**
 * PNDM as Stable Diffusion uses it: PLMS only (skip_prk_steps), diffusers' PNDMScheduler.
 * n steps make n + 1 model calls: the second timestep is repeated, and its model output
 * is averaged with the first one's (a pseudo Runge-Kutta start).
 */
import { f32 } from './numpy-like.js';
import { integerTimestepScheduler, StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { checkSteps, integerTimesteps } from './spacing.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';

export function createPndm(options: SchedulerOptions): Scheduler {
  const cfg = options.training ?? SD15_TRAINING;
  checkSteps(options.steps, cfg.numTrainTimesteps);
  const steps = options.steps;
  const { alphasCumprod } = trainingSchedule(cfg);
  const finalAlpha = cfg.setAlphaToOne ? 1 : alphasCumprod[0]!;
  const base = integerTimesteps(options.timestepSpacing ?? 'leading', steps, cfg).reverse(); // ascending
  // concat(t[:-1], t[-2:-1], t[-1:])[::-1], with numpy's slicing of short arrays.
  const timesteps = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
  const ratio = Math.floor(cfg.numTrainTimesteps / steps);
  const counter = new StepCounter('pndm', timesteps.length, options.beginIndex);
  let ets: Float32Array[] = [];
  let curSample: Float32Array | undefined;

  /** diffusers' _get_prev_sample, formula (9) of the PNDM paper, in float32. */
  const prevSample = (sample: Float32Array, t: number, prev: number, eps: Float32Array): Float32Array => {
    const aT = alphasCumprod[t]!;
    const aPrev = prev >= 0 ? alphasCumprod[prev]! : finalAlpha;
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    const sampleCoeff = f32(Math.sqrt(f32(aPrev / aT)));
    const denom = f32(f32(aT * f32(Math.sqrt(bPrev))) + f32(Math.sqrt(f32(f32(aT * bT) * aPrev))));
    const diff = f32(aPrev - aT);
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      out[k] = f32(f32(sampleCoeff * sample[k]!) - f32(f32(diff * eps[k]!) / denom));
    }
    return out;
  };

  return {
    ...integerTimestepScheduler('pndm', timesteps),
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      // diffusers' self.counter: the PLMS start (the repeated timestep) counts from the run's
      // first step, also when img2img begins the run part-way.
      const n0 = counter.taken(i);
      let t = timesteps[i]!;
      let prev = t - ratio;
      if (n0 !== 1) {
        ets = ets.slice(-3);
        ets.push(modelOutput);
      } else {
        prev = t;
        t = t + ratio;
      }
      const n = modelOutput.length;
      let eps: Float32Array;
      let x = sample;
      const e = (back: number): Float32Array => ets[ets.length - back]!;
      if (ets.length === 1 && n0 === 0) {
        eps = modelOutput;
        curSample = sample;
      } else if (ets.length === 1 && n0 === 1) {
        eps = new Float32Array(n);
        for (let k = 0; k < n; k++) eps[k] = f32(f32(modelOutput[k]! + e(1)[k]!) / 2);
        x = curSample ?? sample;
        curSample = undefined;
      } else if (ets.length === 2) {
        eps = new Float32Array(n);
        for (let k = 0; k < n; k++) eps[k] = f32(f32(f32(3 * e(1)[k]!) - e(2)[k]!) / 2);
      } else if (ets.length === 3) {
        eps = new Float32Array(n);
        for (let k = 0; k < n; k++) {
          eps[k] = f32(f32(f32(f32(23 * e(1)[k]!) - f32(16 * e(2)[k]!)) + f32(5 * e(3)[k]!)) / 12);
        }
      } else {
        eps = new Float32Array(n);
        const c = f32(1 / 24);
        for (let k = 0; k < n; k++) {
          const s = f32(f32(f32(f32(55 * e(1)[k]!) - f32(59 * e(2)[k]!)) + f32(37 * e(3)[k]!)) - f32(9 * e(4)[k]!));
          eps[k] = f32(c * s);
        }
      }
      return prevSample(x, t, prev, eps);
    },
  };
}
