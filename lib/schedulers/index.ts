/**
 * Schedulers for SD 1.x's training schedule, reproducing diffusers step for step, on
 * Float32Array latents of any length and any step count >= 1.
 */
import { createDdim } from './ddim.js';
import { createDdpm } from './ddpm.js';
import { createDpmSinglestep } from './dpm-singlestep.js';
import { createDpmSolver } from './dpm-solver.js';
import { createEuler } from './euler.js';
import { createHeun } from './heun.js';
import { createKdpm2 } from './kdpm2.js';
import { createLcm } from './lcm.js';
import { createLms } from './lms.js';
import { isSchedulerName, isSigmaSchedule, KARRAS_ALIASES, SCHEDULER_NAMES, sigmaSchedulesFor, type SchedulerName, type SigmaSchedule } from './names.js';
import { createPndm } from './pndm.js';
import { createUniPc } from './unipc.js';
import type { Scheduler, SchedulerOptions } from './scheduler.js';

export type { Scheduler, SchedulerOptions, NoiseSource } from './scheduler.js';
export { SCHEDULER_NAMES, SIGMA_SCHEDULES, isSchedulerName, isSigmaSchedule, sigmaSchedulesFor, type SchedulerName, type SigmaSchedule } from './names.js';
export { SD15_TRAINING, trainingSchedule, type TrainingConfig, type TimestepSpacing, type BetaSchedule } from './training-schedule.js';
export { lmsCoefficient } from './lms.js';

export interface CreateSchedulerOptions extends SchedulerOptions {
  /** The same as sigmaSchedule: 'karras' (kept from before sigmaSchedule existed). */
  useKarrasSigmas?: boolean;
}

/** The sigma schedule asked for, checked against what the sampler accepts. */
function resolveSigmaSchedule(name: SchedulerName, options: CreateSchedulerOptions): SigmaSchedule | undefined {
  const asked = options.sigmaSchedule;
  if (asked !== undefined && !isSigmaSchedule(asked)) {
    throw new TypeError(`unknown sigmaSchedule '${String(asked)}': expected one of karras, exponential, beta`);
  }
  if (options.useKarrasSigmas === true && asked !== undefined && asked !== 'karras') {
    throw new TypeError(`useKarrasSigmas conflicts with sigmaSchedule '${asked}'`);
  }
  const schedule = asked ?? (options.useKarrasSigmas === true || KARRAS_ALIASES[name] ? 'karras' : undefined);
  if (schedule !== undefined && !sigmaSchedulesFor(name).includes(schedule)) {
    const accepted = sigmaSchedulesFor(name);
    throw new TypeError(
      accepted.length === 0
        ? `scheduler '${name}' has no sigma schedule option (diffusers' class takes none); got '${schedule}'`
        : `scheduler '${name}' accepts sigmaSchedule ${accepted.map((s) => `'${s}'`).join(', ')}, not '${schedule}'`,
    );
  }
  return schedule;
}

/** A fresh scheduler for one denoising run. */
export function createScheduler(name: SchedulerName, options: CreateSchedulerOptions): Scheduler {
  if (!isSchedulerName(name)) throw new TypeError(`unknown scheduler '${String(name)}': expected one of ${SCHEDULER_NAMES.join(', ')}`);
  const sigmaSchedule = resolveSigmaSchedule(name, options);
  const { useKarrasSigmas: _ignored, ...rest } = options;
  const opts: SchedulerOptions = sigmaSchedule === undefined ? { ...rest } : { ...rest, sigmaSchedule };
  switch (KARRAS_ALIASES[name] ?? name) {
    case 'pndm':
      return createPndm(opts);
    case 'ddim':
      return createDdim(opts);
    case 'lms':
      return createLms(name, opts);
    case 'euler':
      return createEuler(name, opts, false);
    case 'euler-a':
      return createEuler(name, opts, true);
    case 'dpm++2m':
      return createDpmSolver(name, opts);
    case 'dpm++2m-sde':
      return createDpmSolver(name, opts, true);
    case 'dpm++2s':
      return createDpmSinglestep(name, opts);
    case 'unipc':
      return createUniPc(name, opts);
    case 'heun':
      return createHeun(name, opts);
    case 'dpm2':
      return createKdpm2(name, opts, false);
    case 'dpm2-a':
      return createKdpm2(name, opts, true);
    case 'lcm':
      return createLcm(name, opts);
    case 'ddpm':
      return createDdpm(name, opts);
    default:
      throw new TypeError(`unknown scheduler '${String(name)}': expected one of ${SCHEDULER_NAMES.join(', ')}`);
  }
}
