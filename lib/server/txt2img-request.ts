/**
 * The body of POST /sdapi/v1/txt2img: A1111's StableDiffusionTxt2ImgProcessingAPI fields
 * that sd-mali uses, with A1111's defaults. Other fields are accepted and ignored, as A1111
 * ignores what its pipeline does not use. `infotext` fills the fields the request does not
 * set, as A1111's apply_infotext does.
 */
import { fieldError } from './http-errors.js';
import { parseInfotext } from './infotext.js';
import type { ServerLimits } from './options.js';
import { MAX_SEED } from './generation-job.js';

export interface Txt2ImgRequest {
  prompt: string;
  negative_prompt: string;
  /** -1 or null: a random seed. */
  seed: number | null;
  sampler_name: string | null;
  sampler_index: string;
  scheduler: string | null;
  batch_size: number;
  n_iter: number;
  steps: number;
  cfg_scale: number;
  width: number;
  height: number;
  send_images: boolean;
  save_images: boolean;
  infotext: string | null;
  force_task_id: string | null;
}

export const TXT2IMG_FIELDS = [
  'prompt',
  'negative_prompt',
  'seed',
  'sampler_name',
  'sampler_index',
  'scheduler',
  'batch_size',
  'n_iter',
  'steps',
  'cfg_scale',
  'width',
  'height',
  'send_images',
  'save_images',
  'infotext',
  'force_task_id',
] as const satisfies readonly (keyof Txt2ImgRequest)[];

/** Longest `infotext` (A1111's are a few hundred characters; prompts are bounded anyway). */
export const MAX_INFOTEXT_LENGTH = 16_384;

/** The JSON schema fastify validates the body with (and fills A1111's defaults from). */
export function txt2imgSchema(limits: ServerLimits): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      prompt: { type: 'string', default: '', maxLength: limits.maxPromptLength },
      negative_prompt: { type: 'string', default: '', maxLength: limits.maxPromptLength },
      seed: { type: ['integer', 'null'], default: -1, minimum: -1, maximum: Number.MAX_SAFE_INTEGER },
      sampler_name: { type: ['string', 'null'], default: null, maxLength: 128 },
      sampler_index: { type: 'string', default: 'Euler', maxLength: 128 },
      scheduler: { type: ['string', 'null'], default: null, maxLength: 128 },
      batch_size: { type: 'integer', default: 1, minimum: 1, maximum: limits.maxImages },
      n_iter: { type: 'integer', default: 1, minimum: 1, maximum: limits.maxImages },
      steps: { type: 'integer', default: 50, minimum: 1, maximum: limits.maxSteps },
      cfg_scale: { type: 'number', default: 7 },
      width: { type: 'integer', default: 512 },
      height: { type: 'integer', default: 512 },
      send_images: { type: 'boolean', default: true },
      save_images: { type: 'boolean', default: false },
      infotext: { type: ['string', 'null'], default: null, maxLength: MAX_INFOTEXT_LENGTH },
      force_task_id: { type: ['string', 'null'], default: null, maxLength: 128 },
    },
  };
}

/** The request as A1111 echoes it in `parameters`: its fields with defaults, not the extras. */
export function echoParameters(body: Txt2ImgRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of TXT2IMG_FIELDS) out[key] = body[key];
  return out;
}

/** What an infotext may set, beside the fields of the body (an exact seed: it may pass 2^53). */
export interface InfotextOverrides {
  seed: bigint | undefined;
}

function integer(field: string, value: string | number, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw fieldError(field, `infotext gives ${JSON.stringify(String(value).slice(0, 40))}, not an integer from ${min} to ${max}`);
  return n;
}

/**
 * A1111's apply_infotext: the fields `set` does not name are taken from the infotext
 * (Prompt, Negative prompt, Steps, Sampler, Schedule type, CFG scale, Seed, Size, Batch size),
 * checked against the same bounds as the body's.
 */
export function applyInfotext(body: Txt2ImgRequest, set: ReadonlySet<string>, limits: ServerLimits): InfotextOverrides {
  const overrides: InfotextOverrides = { seed: undefined };
  if (!body.infotext) return overrides;
  const p = parseInfotext(body.infotext);
  const has = (key: string): boolean => p[key] !== undefined && p[key] !== '';
  const text = (field: 'prompt' | 'negative_prompt', key: string): void => {
    if (set.has(field) || p[key] === undefined) return;
    const value = String(p[key]);
    if (value.length > limits.maxPromptLength) throw fieldError(field, `infotext gives one longer than ${limits.maxPromptLength} characters`);
    body[field] = value;
  };
  text('prompt', 'Prompt');
  text('negative_prompt', 'Negative prompt');
  if (!set.has('steps') && has('Steps')) body.steps = integer('steps', p['Steps']!, 1, limits.maxSteps);
  if (!set.has('sampler_name') && !set.has('sampler_index') && has('Sampler')) body.sampler_name = String(p['Sampler']);
  if (!set.has('scheduler') && has('Schedule type')) body.scheduler = String(p['Schedule type']);
  if (!set.has('cfg_scale') && has('CFG scale')) {
    const cfg = Number(p['CFG scale']);
    if (!Number.isFinite(cfg)) throw fieldError('cfg_scale', 'infotext gives a CFG scale that is not a number');
    body.cfg_scale = cfg;
  }
  if (!set.has('width') && has('Size-1')) body.width = integer('width', p['Size-1']!, 1, 65_536);
  if (!set.has('height') && has('Size-2')) body.height = integer('height', p['Size-2']!, 1, 65_536);
  if (!set.has('batch_size') && has('Batch size')) body.batch_size = integer('batch_size', p['Batch size']!, 1, limits.maxImages);
  if (!set.has('seed') && has('Seed')) {
    const seed = String(p['Seed']).trim();
    if (!/^(-1|\d{1,20})$/.test(seed) || BigInt(seed) > MAX_SEED) throw fieldError('seed', `infotext gives seed ${JSON.stringify(seed.slice(0, 40))}, not an integer from -1 to 2^64-1`);
    if (seed === '-1') body.seed = -1;
    else overrides.seed = BigInt(seed);
  }
  return overrides;
}
