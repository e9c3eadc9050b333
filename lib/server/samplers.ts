/**
 * AUTOMATIC1111's sampler and schedule-type names, mapped onto sd-mali's schedulers the way
 * A1111 1.10 resolves them (modules/sd_samplers.py get_sampler_and_scheduler, the API's
 * text2imgapi, processing's fix_p_invalid_sampler_and_scheduler and the k-diffusion
 * sampler's get_sigmas):
 *
 * - a legacy name with a schedule suffix ("LMS Karras", "DPM++ 2M SDE Karras") is split;
 * - an unknown sampler runs as the default sampler (A1111's samplers[0]), an unknown or
 *   unsupported schedule type as Automatic;
 * - Automatic means the sampler's own default schedule (Karras for DPM++ 2M, Exponential
 *   for DPM++ 2M SDE, …), else its plain discretization;
 * - an explicit `scheduler` field wins over a name's suffix.
 *
 * A sampler appears (in /sdapi/v1/samplers and here) once its scheduler is implemented.
 */
import { createScheduler, sigmaSchedulesFor, type SchedulerName, type SigmaSchedule } from '../schedulers/index.js';

export interface A1111Sampler {
  name: string;
  aliases: string[];
  /** The sd-mali scheduler that runs it. */
  scheduler: SchedulerName;
  /** A1111's SamplerData.options, as its API lists them (values as strings). */
  options: Record<string, string>;
  /** The schedule type Automatic means for this sampler (A1111's options.scheduler). */
  defaultSchedule?: SigmaSchedule;
}

/** A1111 1.10's list (k-diffusion, then timesteps, then LCM), with what sd-mali runs for each. */
const ALL_SAMPLERS: readonly A1111Sampler[] = [
  { name: 'DPM++ 2M', aliases: ['k_dpmpp_2m'], scheduler: 'dpm++2m', options: { scheduler: 'karras' }, defaultSchedule: 'karras' },
  { name: 'DPM++ 2M SDE', aliases: ['k_dpmpp_2m_sde'], scheduler: 'dpm++2m-sde', options: { scheduler: 'exponential', brownian_noise: 'True' }, defaultSchedule: 'exponential' },
  { name: 'DPM++ 2S a', aliases: ['k_dpmpp_2s_a'], scheduler: 'dpm++2s', options: { scheduler: 'karras', uses_ensd: 'True', second_order: 'True' }, defaultSchedule: 'karras' },
  { name: 'Euler a', aliases: ['k_euler_a', 'k_euler_ancestral'], scheduler: 'euler-a', options: { uses_ensd: 'True' } },
  { name: 'Euler', aliases: ['k_euler'], scheduler: 'euler', options: {} },
  { name: 'LMS', aliases: ['k_lms'], scheduler: 'lms', options: {} },
  { name: 'Heun', aliases: ['k_heun'], scheduler: 'heun', options: { second_order: 'True' } },
  { name: 'DPM2', aliases: ['k_dpm_2'], scheduler: 'dpm2', options: { scheduler: 'karras', discard_next_to_last_sigma: 'True', second_order: 'True' }, defaultSchedule: 'karras' },
  {
    name: 'DPM2 a',
    aliases: ['k_dpm_2_a'],
    scheduler: 'dpm2-a',
    options: { scheduler: 'karras', discard_next_to_last_sigma: 'True', uses_ensd: 'True', second_order: 'True' },
    defaultSchedule: 'karras',
  },
  { name: 'DDIM', aliases: ['ddim'], scheduler: 'ddim', options: {} },
  { name: 'PLMS', aliases: ['plms', 'PNDM'], scheduler: 'pndm', options: {} },
  { name: 'UniPC', aliases: ['unipc'], scheduler: 'unipc', options: {} },
  { name: 'LCM', aliases: ['k_lcm'], scheduler: 'lcm', options: {} },
  // Not an A1111 sampler; clients that know diffusers' names ask for it.
  { name: 'DDPM', aliases: ['ddpm'], scheduler: 'ddpm', options: {} },
];

export interface ScheduleType {
  name: string;
  label: string;
  aliases: string[] | null;
  default_rho: number;
  need_inner_model: boolean;
  /** The diffusers sigma spacing sd-mali runs for it; undefined: Automatic, or none in sd-mali. */
  sigmaSchedule: SigmaSchedule | undefined;
}

/** A1111 1.10's schedule types (sd_schedulers.schedulers), in its order. */
const ALL_SCHEDULE_TYPES: readonly ScheduleType[] = [
  { name: 'automatic', label: 'Automatic', aliases: null, default_rho: -1, need_inner_model: false, sigmaSchedule: undefined },
  { name: 'uniform', label: 'Uniform', aliases: null, default_rho: -1, need_inner_model: true, sigmaSchedule: undefined },
  { name: 'karras', label: 'Karras', aliases: null, default_rho: 7, need_inner_model: false, sigmaSchedule: 'karras' },
  { name: 'exponential', label: 'Exponential', aliases: null, default_rho: -1, need_inner_model: false, sigmaSchedule: 'exponential' },
  { name: 'polyexponential', label: 'Polyexponential', aliases: null, default_rho: 1, need_inner_model: false, sigmaSchedule: undefined },
  { name: 'sgm_uniform', label: 'SGM Uniform', aliases: ['SGMUniform'], default_rho: -1, need_inner_model: true, sigmaSchedule: undefined },
  { name: 'kl_optimal', label: 'KL Optimal', aliases: null, default_rho: -1, need_inner_model: false, sigmaSchedule: undefined },
  { name: 'align_your_steps', label: 'Align Your Steps', aliases: null, default_rho: -1, need_inner_model: false, sigmaSchedule: undefined },
  { name: 'simple', label: 'Simple', aliases: null, default_rho: -1, need_inner_model: true, sigmaSchedule: undefined },
  { name: 'normal', label: 'Normal', aliases: null, default_rho: -1, need_inner_model: true, sigmaSchedule: undefined },
  { name: 'ddim', label: 'DDIM', aliases: null, default_rho: -1, need_inner_model: true, sigmaSchedule: undefined },
  { name: 'beta', label: 'Beta', aliases: null, default_rho: -1, need_inner_model: true, sigmaSchedule: 'beta' },
];

const AUTOMATIC = ALL_SCHEDULE_TYPES[0]!;

/** Whether createScheduler can build `name` (the samplers land one by one). */
function implemented(name: SchedulerName): boolean {
  try {
    createScheduler(name, { steps: 4 });
    return true;
  } catch {
    return false;
  }
}

/** The A1111 samplers this build of sd-mali can run, in A1111's order. */
export const SAMPLERS: readonly A1111Sampler[] = ALL_SAMPLERS.filter((s) => implemented(s.scheduler));

/** The schedule types sd-mali runs (A1111's /sdapi/v1/schedulers entries). */
export const SCHEDULE_TYPES: readonly Omit<ScheduleType, 'sigmaSchedule'>[] = ALL_SCHEDULE_TYPES.filter((t) => t === AUTOMATIC || t.sigmaSchedule !== undefined).map(
  ({ sigmaSchedule: _, ...rest }) => rest,
);

/** The sampler A1111's API uses when a request names none (its sampler_index default). */
export const DEFAULT_SAMPLER = 'Euler';

export interface SamplerChoice {
  /** The A1111 name of the sampler that runs. */
  sampler: string;
  scheduler: SchedulerName;
  /** The sigma spacing it runs with; undefined: the sampler's own. */
  sigmaSchedule: SigmaSchedule | undefined;
  /** The label A1111's infotext writes ('Automatic' where it writes none). */
  scheduleType: string;
  /** What was asked for that could not be honoured, for the log (A1111's "autocorrection"). */
  corrections: string[];
}

const lower = (s: string): string => s.toLowerCase();

function findSampler(name: string): A1111Sampler | undefined {
  const wanted = lower(name);
  return SAMPLERS.find((s) => lower(s.name) === wanted || s.aliases.some((a) => lower(a) === wanted));
}

function findScheduleType(name: string): ScheduleType | undefined {
  const wanted = lower(name);
  return ALL_SCHEDULE_TYPES.find((t) => lower(t.name) === wanted || lower(t.label) === wanted || (t.aliases ?? []).some((a) => lower(a) === wanted));
}

/** "LMS Karras" → ['LMS', Karras]; a name without a schedule suffix → [name, undefined]. */
function splitSuffix(name: string): [string, ScheduleType | undefined] {
  for (const type of ALL_SCHEDULE_TYPES) {
    for (const option of [type.label, type.name, ...(type.aliases ?? [])]) {
      if (name.length > option.length + 1 && lower(name).endsWith(` ${lower(option)}`)) return [name.slice(0, -(option.length + 1)), type];
    }
  }
  return [name, undefined];
}

/** Maps (sampler_name or sampler_index, scheduler) to what runs; never fails, as A1111 does not. */
export function chooseSampler(samplerName: string | null | undefined, scheduleType: string | null | undefined): SamplerChoice {
  const corrections: string[] = [];
  const asked = samplerName && samplerName.length > 0 ? samplerName : DEFAULT_SAMPLER;
  let sampler = findSampler(asked);
  let suffix: ScheduleType | undefined;
  if (!sampler) {
    const [base, type] = splitSuffix(asked);
    sampler = findSampler(base);
    if (sampler) suffix = type;
  }
  if (!sampler) {
    // A1111 falls back to its first sampler; so does sd-mali.
    sampler = SAMPLERS[0]!;
    corrections.push(`sampler ${JSON.stringify(asked.slice(0, 64))} is not one this server has; using ${sampler.name}`);
  }
  // An explicit scheduler field wins over a name's suffix (A1111: populate.scheduler).
  let type = AUTOMATIC;
  if (scheduleType !== undefined && scheduleType !== null && scheduleType !== '') {
    const found = findScheduleType(scheduleType);
    if (found) type = found;
    else corrections.push(`schedule type ${JSON.stringify(scheduleType.slice(0, 64))} is unknown; using Automatic`);
  } else if (suffix) {
    type = suffix;
  }
  let sigmaSchedule = type === AUTOMATIC ? sampler.defaultSchedule : type.sigmaSchedule;
  if (type !== AUTOMATIC && (type.sigmaSchedule === undefined || !sigmaSchedulesFor(sampler.scheduler).includes(type.sigmaSchedule))) {
    corrections.push(`schedule type ${type.label} is not available with ${sampler.name} here; using Automatic`);
    sigmaSchedule = sampler.defaultSchedule;
  }
  if (sigmaSchedule !== undefined && !sigmaSchedulesFor(sampler.scheduler).includes(sigmaSchedule)) sigmaSchedule = undefined;
  const label = sigmaSchedule === undefined ? 'Automatic' : ALL_SCHEDULE_TYPES.find((t) => t.sigmaSchedule === sigmaSchedule)!.label;
  return { sampler: sampler.name, scheduler: sampler.scheduler, sigmaSchedule, scheduleType: label, corrections };
}
