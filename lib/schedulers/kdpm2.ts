/**
 * DPM2 (KDPM2DiscreteScheduler) and DPM2 ancestral (KDPM2AncestralDiscreteScheduler):
 * n steps are 2n - 1 model calls. Even calls take an Euler half step to the interpolated
 * sigma (geometric mean of sigma_i and the next one, or of sigma_i and sigma_down for the
 * ancestral one), the odd call evaluates the model there and takes the whole step from the
 * saved sample with that derivative (the ancestral one then adds noise * sigma_up).
 */
import { f32, roundHalfEven } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { StepCounter, type NoiseSource, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { logF32, scaleBySigma, sigmaInitNoise, sigmaToTF32 } from './sigma-schedule.js';
import { sigmaSchedule } from './euler.js';
import { interleaveAfterFirst } from './heun.js';
import { SD15_TRAINING, trainingSchedule } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

/** torch: start.log().lerp(end.log(), 0.5).exp() in float32 (NaN/0 where a log is -inf, as torch). */
function geometricMidpoint(start: number, end: number): number {
  const a = f32(Math.log(start));
  const b = f32(Math.log(end));
  // lerp with weight 0.5 takes torch's "large weight" branch: end - (end - start) * (1 - w).
  return f32(Math.exp(f32(b - f32(f32(b - a) * 0.5))));
}

export function createKdpm2(name: SchedulerName, options: SchedulerOptions, ancestral: boolean): Scheduler {
  // Karras timesteps are rounded by this class; exponential and beta ones stay float64.
  const cast = options.sigmaSchedule === 'karras' ? roundHalfEven : options.sigmaSchedule ? (t: number) => t : f32;
  const base = sigmaSchedule(options, cast);
  const cfg = options.training ?? SD15_TRAINING;
  const logSigmas = logF32(trainingSchedule(cfg).sigmas);
  const s = base.sigmas; // n + 1 values, the last 0
  const n = s.length - 1;
  let up = new Float32Array(n + 1);
  let down = new Float32Array(n + 1);
  let interpol: Float32Array;
  if (!ancestral) {
    // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): index 0 pairs s0 with the final 0 (NaN, never read).
    interpol = s.map((v, i) => geometricMidpoint(v, s[(i + n) % (n + 1)]!));
  } else {
    for (let i = 0; i <= n; i++) {
      const next = i < n ? s[i + 1]! : 0;
      const next2 = f32(next * next);
      const cur2 = f32(s[i]! * s[i]!);
      up[i] = f32(Math.sqrt(f32(f32(next2 * f32(cur2 - next2)) / cur2)));
      down[i] = i === n ? 0 : f32(Math.sqrt(f32(next2 - f32(up[i]! * up[i]!))));
    }
    interpol = s.map((v, i) => (i >= n - 1 ? 0 : geometricMidpoint(v, down[i]!)));
  }
  // The model's timestep at each interpolated sigma, _sigma_to_t on float32 tensors.
  const tInterpol = [...interpol].map((v) => sigmaToTF32(v, logSigmas));
  const between = ancestral ? tInterpol.slice(0, n - 1) : tInterpol.slice(1, n);
  const timesteps = [base.timesteps[0]!, ...between.flatMap((t, k) => [t, base.timesteps[k + 1]!])];
  const sigmas = Float32Array.from([...interleaveAfterFirst(s), 0]);
  const interpolated = Float32Array.from([...interleaveAfterFirst(interpol), interpol[n]!]);
  if (ancestral) {
    up = Float32Array.from([...interleaveAfterFirst(up), up[n]!]);
    down = Float32Array.from([...interleaveAfterFirst(down), down[n]!]);
  }
  const counter = new StepCounter(name, timesteps.length, options.beginIndex);
  let saved: Float32Array | undefined;
  const firstOrder = (i: number): boolean => i % 2 === 0;

  return {
    name,
    timesteps,
    sigmas: [...sigmas],
    initNoiseSigma: sigmaInitNoise(sigmas, base.spacing),
    length: timesteps.length,
    scaleModelInput(sample, i) {
      const sigma = firstOrder(i) ? sigmas[i]! : ancestral ? interpolated[i - 1]! : interpolated[i]!;
      return scaleBySigma(sample, sigma);
    },
    modelTimestep: (i) => roundHalfEven(timesteps[i]!),
    step(modelOutput, i, sample, generator?: NoiseSource) {
      if (ancestral && !firstOrder(i) && !generator) throw new InvalidArgumentError(`${name}: step() needs a generator for its noise`);
      counter.take(i, modelOutput, sample);
      const len = sample.length;
      const out = new Float32Array(len);
      if (firstOrder(i)) {
        const sigma = sigmas[i]!;
        const target = ancestral ? interpolated[i]! : interpolated[i + 1]!;
        const dt = f32(target - sigma);
        for (let k = 0; k < len; k++) {
          const x0 = f32(sample[k]! - f32(sigma * modelOutput[k]!));
          const d = f32(f32(sample[k]! - x0) / sigma);
          out[k] = f32(sample[k]! + f32(d * dt));
        }
        saved = sample;
        return out;
      }
      const sigma = sigmas[i - 1]!;
      const mid = ancestral ? interpolated[i - 1]! : interpolated[i]!;
      const dt = ancestral ? f32(down[i - 1]! - sigma) : f32(sigmas[i]! - sigma);
      const from = saved!;
      saved = undefined;
      const noise = ancestral ? generator!.randn([len]) : undefined;
      const sigmaUp = ancestral ? up[i - 1]! : 0;
      for (let k = 0; k < len; k++) {
        const x0 = f32(sample[k]! - f32(mid * modelOutput[k]!));
        const d = f32(f32(sample[k]! - x0) / mid);
        const x = f32(from[k]! + f32(d * dt));
        out[k] = noise ? f32(x + f32(noise[k]! * sigmaUp)) : x;
      }
      return out;
    },
  };
}
