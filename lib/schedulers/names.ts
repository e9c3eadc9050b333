/**
 * Every scheduler id sd-mali has, and which A1111 schedule types (diffusers' sigma
 * schedules) each accepts. The table follows diffusers' constructors (commit 58eb52c0):
 * a class that takes use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas accepts
 * those three; PNDM, DDIM, DDPM, LCM and Euler ancestral take none of them.
 */

export const SCHEDULER_NAMES = [
  'pndm',
  'lms',
  'lms-karras',
  'dpm++2m',
  'dpm++2m-karras',
  'dpm++2m-sde',
  'dpm++2m-sde-karras',
  'dpm++2s',
  'euler',
  'euler-karras',
  'euler-a',
  'heun',
  'dpm2',
  'dpm2-a',
  'unipc',
  'ddim',
  'ddpm',
  'lcm',
] as const;

export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** A1111's schedule types that diffusers implements as alternative sigma spacings. */
export type SigmaSchedule = 'karras' | 'exponential' | 'beta';

export const SIGMA_SCHEDULES: readonly SigmaSchedule[] = ['karras', 'exponential', 'beta'];

const ALL: readonly SigmaSchedule[] = SIGMA_SCHEDULES;
const NONE: readonly SigmaSchedule[] = [];
const KARRAS_ONLY: readonly SigmaSchedule[] = ['karras'];

/** Ids that fix the Karras schedule: the base sampler with sigmaSchedule 'karras'. */
export const KARRAS_ALIASES: Readonly<Partial<Record<SchedulerName, SchedulerName>>> = {
  'lms-karras': 'lms',
  'dpm++2m-karras': 'dpm++2m',
  'dpm++2m-sde-karras': 'dpm++2m-sde',
  'euler-karras': 'euler',
};

const SCHEDULES: Readonly<Record<SchedulerName, readonly SigmaSchedule[]>> = {
  pndm: NONE,
  lms: ALL,
  'lms-karras': KARRAS_ONLY,
  'dpm++2m': ALL,
  'dpm++2m-karras': KARRAS_ONLY,
  'dpm++2m-sde': ALL,
  'dpm++2m-sde-karras': KARRAS_ONLY,
  'dpm++2s': ALL,
  euler: ALL,
  'euler-karras': KARRAS_ONLY,
  'euler-a': NONE,
  heun: ALL,
  dpm2: ALL,
  'dpm2-a': ALL,
  unipc: ALL,
  ddim: NONE,
  ddpm: NONE,
  lcm: NONE,
};

export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

export function isSigmaSchedule(name: string): name is SigmaSchedule {
  return (SIGMA_SCHEDULES as readonly string[]).includes(name);
}

/**
 * The sigma schedules `name` accepts as `sigmaSchedule` (empty: only its own spacing).
 * The Karras aliases accept 'karras' only, which they already use.
 */
export function sigmaSchedulesFor(name: SchedulerName): readonly SigmaSchedule[] {
  const schedules = SCHEDULES[name];
  if (!schedules) throw new TypeError(`unknown scheduler '${String(name)}': expected one of ${SCHEDULER_NAMES.join(', ')}`);
  return schedules;
}
