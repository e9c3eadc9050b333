/**
 * The body of POST /sdapi/v1/txt2img: A1111's StableDiffusionTxt2ImgProcessingAPI fields
 * that sd-mali uses, with A1111's defaults. Other fields are accepted and ignored, as A1111
 * ignores what its pipeline does not use.
 */
import type { ServerLimits } from './options.js';

export interface Txt2ImgRequest {
  prompt: string;
  negative_prompt: string;
  seed: number;
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
] as const satisfies readonly (keyof Txt2ImgRequest)[];

/** The JSON schema fastify validates the body with (and fills A1111's defaults from). */
export function txt2imgSchema(limits: ServerLimits): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      prompt: { type: 'string', default: '', maxLength: limits.maxPromptLength },
      negative_prompt: { type: 'string', default: '', maxLength: limits.maxPromptLength },
      seed: { type: 'integer', default: -1, minimum: -1, maximum: Number.MAX_SAFE_INTEGER },
      sampler_name: { type: ['string', 'null'], default: null },
      sampler_index: { type: 'string', default: 'Euler' },
      scheduler: { type: ['string', 'null'], default: null },
      batch_size: { type: 'integer', default: 1, minimum: 1, maximum: limits.maxImages },
      n_iter: { type: 'integer', default: 1, minimum: 1, maximum: limits.maxImages },
      steps: { type: 'integer', default: 50, minimum: 1, maximum: limits.maxSteps },
      cfg_scale: { type: 'number', default: 7 },
      width: { type: 'integer', default: 512 },
      height: { type: 'integer', default: 512 },
      send_images: { type: 'boolean', default: true },
      save_images: { type: 'boolean', default: false },
    },
  };
}

/** The request as A1111 echoes it in `parameters`: its fields with defaults, not the extras. */
export function echoParameters(body: Txt2ImgRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of TXT2IMG_FIELDS) out[key] = body[key];
  return out;
}
