/**
 * AUTOMATIC1111's sampler and schedule-type names, mapped onto sd-mali's schedulers. Clients
 * send `sampler_name` (or the older `sampler_index`) and, since A1111 1.9, `scheduler`.
 */
import type { SchedulerName } from '../schedulers/index.js';

export interface A1111Sampler {
  name: string;
  aliases: string[];
  /** What this name runs with the automatic schedule. */
  scheduler: SchedulerName;
  /** What it runs with scheduler "Karras", where sd-mali has that variant. */
  karras?: SchedulerName;
}

export const SAMPLERS: readonly A1111Sampler[] = [
  { name: 'Euler a', aliases: ['k_euler_a', 'k_euler_ancestral'], scheduler: 'euler-a' },
  { name: 'Euler', aliases: ['k_euler'], scheduler: 'euler' },
  { name: 'LMS', aliases: ['k_lms'], scheduler: 'lms' },
  { name: 'DPM++ 2M', aliases: ['k_dpmpp_2m'], scheduler: 'dpm++2m', karras: 'dpm++2m-karras' },
  { name: 'DPM++ 2M Karras', aliases: ['k_dpmpp_2m_ka'], scheduler: 'dpm++2m-karras', karras: 'dpm++2m-karras' },
  { name: 'DDIM', aliases: [], scheduler: 'ddim' },
  { name: 'PLMS', aliases: ['PNDM'], scheduler: 'pndm' },
  { name: 'LCM', aliases: ['k_lcm'], scheduler: 'lcm' },
];

/** A1111's /sdapi/v1/schedulers entries for the schedule types sd-mali can run. */
export const SCHEDULE_TYPES = [
  { name: 'automatic', label: 'Automatic', aliases: null, default_rho: -1, need_inner_model: false },
  { name: 'karras', label: 'Karras', aliases: null, default_rho: 7, need_inner_model: false },
] as const;

/** The sampler A1111's API uses when a request names none (its sampler_index default). */
export const DEFAULT_SAMPLER = 'Euler';

export type SamplerChoice = { ok: true; sampler: string; scheduleType: 'Automatic' | 'Karras'; scheduler: SchedulerName } | { ok: false; message: string };

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** Maps (sampler_name, scheduler) to a scheduler, or says what can be asked for instead. */
export function chooseSampler(samplerName: string | undefined, scheduleType: string | undefined): SamplerChoice {
  const wanted = samplerName && samplerName.length > 0 ? samplerName : DEFAULT_SAMPLER;
  const sampler = SAMPLERS.find((s) => same(s.name, wanted) || s.aliases.some((a) => same(a, wanted)));
  if (!sampler) return { ok: false, message: `Sampler not found: '${wanted}'; this server has ${SAMPLERS.map((s) => s.name).join(', ')}` };
  const type = scheduleType === undefined || scheduleType === '' ? 'automatic' : scheduleType;
  if (same(type, 'automatic')) {
    return { ok: true, sampler: sampler.name, scheduleType: sampler.scheduler === 'dpm++2m-karras' ? 'Karras' : 'Automatic', scheduler: sampler.scheduler };
  }
  if (same(type, 'karras')) {
    if (sampler.karras) return { ok: true, sampler: sampler.name, scheduleType: 'Karras', scheduler: sampler.karras };
    return { ok: false, message: `scheduler 'Karras' is available with DPM++ 2M only, not with '${sampler.name}'; use 'Automatic'` };
  }
  return { ok: false, message: `Scheduler not found: '${type}'; this server has ${SCHEDULE_TYPES.map((s) => s.label).join(', ')}` };
}
