/** The one interface every scheduler implements. */
import type { SchedulerName, SigmaSchedule } from './names.js';
import type { TimestepSpacing, TrainingConfig } from './training-schedule.js';
import { InvalidArgumentError } from '../errors.js';

export type { SchedulerName, SigmaSchedule } from './names.js';

/** A source of standard normal noise (the ancestral schedulers draw from it each step). */
export interface NoiseSource {
  randn(shape: readonly number[] | number): Float32Array;
}

export interface Scheduler {
  readonly name: SchedulerName;
  /** The timesteps the model is called at, in order (integers, or float32 values for LMS/Euler). */
  readonly timesteps: readonly number[];
  /**
   * diffusers' `sigmas` after set_timesteps, in its layout, for the sigma-based classes: one
   * more than timesteps, but interleaved for Heun ([s0, s1, s1, ..., 0]) and KDPM2 (2n + 2).
   */
  readonly sigmas?: readonly number[];
  /** Scale of the initial noise: 1, or sigma_max for the sigma-space schedulers. */
  readonly initNoiseSigma: number;
  /** Number of model calls (PNDM: steps + 1, its second timestep repeated; Heun, DPM2: 2 * steps - 1). */
  readonly length: number;
  /** The model input for step i: the identity, or sample / sqrt(sigma^2 + 1). */
  scaleModelInput(sample: Float32Array, i: number): Float32Array;
  /** The timestep of step i as the int32 a compiled UNet takes (rounded half to even). */
  modelTimestep(i: number): number;
  /** One denoising step: the sample for step i + 1. Steps must be taken in order, from 0. */
  step(modelOutput: Float32Array, i: number, sample: Float32Array, generator?: NoiseSource): Float32Array;
}

export interface SchedulerOptions {
  /** Inference steps, any integer >= 1. */
  steps: number;
  /** Overrides the class's default spacing (diffusers: PNDM/DDIM leading, the others linspace). */
  timestepSpacing?: TimestepSpacing;
  /** DPM-Solver: 'zero' (diffusers' default) or 'sigma_min' (end at timestep 0's sigma, as the seed's compiled steps do). */
  finalSigmasType?: 'zero' | 'sigma_min';
  /**
   * Sigma spacing (A1111's schedule type) where the sampler accepts one (sigmaSchedulesFor):
   * diffusers' use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas. Default: the
   * class's own (interpolated training sigmas).
   */
  sigmaSchedule?: SigmaSchedule;
  /** The training schedule; default SD 1.x. */
  training?: TrainingConfig;
  /**
   * diffusers' set_begin_index: the run starts at this index of `timesteps` (img2img's
   * strength skips the first ones), with the scheduler's history as fresh as at step 0.
   * step() then takes i from beginIndex on. Default 0.
   */
  beginIndex?: number;
}

/** Checks the contract of step() shared by every scheduler: matching lengths, steps in order. */
export class StepCounter {
  #next: number;
  /** The first step index (SchedulerOptions.beginIndex). */
  readonly begin: number;
  constructor(
    private readonly name: string,
    private readonly length: number,
    begin = 0,
  ) {
    if (!Number.isInteger(begin) || begin < 0 || begin >= length) throw new RangeError(`${name}: beginIndex ${begin} is outside 0..${length - 1}`);
    this.begin = begin;
    this.#next = begin;
  }

  /** How many steps were taken before step i of this run (i - begin). */
  taken(i: number): number {
    return i - this.begin;
  }

  take(i: number, modelOutput: Float32Array, sample: Float32Array): void {
    const { name } = this;
    if (modelOutput.length !== sample.length) throw new InvalidArgumentError(`${name}: model output has ${modelOutput.length} values, the sample ${sample.length}`);
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new InvalidArgumentError(`${name}: step ${i} is outside 0..${this.length - 1}`);
    if (i !== this.#next) throw new InvalidArgumentError(`${name}: steps must be taken in order; expected step ${this.#next}, got ${i}`);
    this.#next++;
  }
}

/** Everything but step() of a scheduler over integer timesteps (PNDM, DDIM, DPM-Solver). */
export function integerTimestepScheduler(name: SchedulerName, timesteps: number[]): Omit<Scheduler, 'step'> {
  return {
    name,
    timesteps,
    initNoiseSigma: 1,
    length: timesteps.length,
    scaleModelInput: (sample) => sample,
    modelTimestep: (i) => timesteps[i]!,
  };
}
