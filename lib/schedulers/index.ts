/**
 * Schedulers for SD 1.x's training schedule, reproducing diffusers step for step, on
 * Float32Array latents of any length and any step count >= 1.
 */
import { createDdim } from './ddim.js';
import { createDpmSolver } from './dpm-solver.js';
import { createEuler, type SigmaSchedulerOptions } from './euler.js';
import { createLms } from './lms.js';
import { createPndm } from './pndm.js';
import { SCHEDULER_NAMES, type Scheduler, type SchedulerName, type SchedulerOptions } from './scheduler.js';

export type { Scheduler, SchedulerName, SchedulerOptions, NoiseSource } from './scheduler.js';
export { SCHEDULER_NAMES } from './scheduler.js';
export { SD15_TRAINING, trainingSchedule, type TrainingConfig, type TimestepSpacing, type BetaSchedule } from './training-schedule.js';
export { lmsCoefficient } from './lms.js';

export interface CreateSchedulerOptions extends SchedulerOptions {
  /** Karras sigmas for lms and euler ('dpm++2m-karras' sets it itself). */
  useKarrasSigmas?: boolean;
}

export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

/** A fresh scheduler for one denoising run. */
export function createScheduler(name: SchedulerName, options: CreateSchedulerOptions): Scheduler {
  const sigmaOptions: SigmaSchedulerOptions = options;
  switch (name) {
    case 'pndm':
      return createPndm(options);
    case 'ddim':
      return createDdim(options);
    case 'lms':
      return createLms(sigmaOptions);
    case 'euler':
      return createEuler(sigmaOptions, false);
    case 'euler-a':
      return createEuler(sigmaOptions, true);
    case 'dpm++2m':
      return createDpmSolver(options);
    case 'dpm++2m-karras':
      return createDpmSolver({ ...options, useKarrasSigmas: true });
    default:
      throw new TypeError(`unknown scheduler '${String(name)}': expected one of ${SCHEDULER_NAMES.join(', ')}`);
  }
}
