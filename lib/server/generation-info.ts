/**
 * What txt2img and img2img write besides the images: each image's infotext (A1111's
 * create_infotext, which the PNG carries) and the response's `info` object, field for
 * field as A1111 1.10 returns it, with sd-mali's own fields at the end.
 */
import type { JobResult } from './generation-job.js';
import { createInfotext } from './infotext.js';
import type { ModelIdentity } from './model-identity.js';
import type { SamplerChoice } from './samplers.js';
import type { WorkerInfo } from './worker/protocol.js';

export interface InfotextParts {
  prompt: string;
  negativePrompt: string;
  steps: number;
  sampler: SamplerChoice;
  /** The guidance scale applied (the baked one where the executable has it compiled in). */
  cfgScale: number;
  model: Pick<WorkerInfo, 'width' | 'height'>;
  identity: ModelIdentity;
  version: string;
  /** img2img's fields after Model (Denoising strength), as A1111 orders them. */
  afterModel?: InfotextParam[];
  /** img2img's extras before Version (Mask blur, what ran differently). */
  beforeVersion?: InfotextParam[];
}

type InfotextParam = [string, string | number | undefined];

/** The infotext of each image, by its seed. */
export function infotextOf(parts: InfotextParts): (seed: bigint) => string {
  return (seed) =>
    createInfotext({
      prompt: parts.prompt,
      negativePrompt: parts.negativePrompt,
      params: [
        ['Steps', parts.steps],
        ['Sampler', parts.sampler.sampler],
        ['Schedule type', parts.sampler.scheduleType === 'Automatic' ? undefined : parts.sampler.scheduleType],
        ['CFG scale', parts.cfgScale],
        ['Seed', String(seed)],
        ['Size', `${parts.model.width}x${parts.model.height}`],
        ['Model hash', parts.identity.shortHash ?? undefined],
        ['Model', parts.identity.name],
        ...(parts.afterModel ?? []),
        // sd-mali's initial noise is torch.randn on the CPU: A1111's RNG setting "CPU".
        ['RNG', 'CPU'],
        ...(parts.beforeVersion ?? []),
        ['Version', `sd-mali ${parts.version}`],
      ],
    });
}

export interface GenerationInfoParts {
  /** The request's fields that info repeats. */
  body: { prompt: string; negative_prompt: string; steps: number; batch_size: number; n_iter: number; cfg_scale: number };
  count: number;
  firstSeed: bigint;
  allSeeds: bigint[];
  model: Pick<WorkerInfo, 'width' | 'height'>;
  identity: ModelIdentity;
  sampler: SamplerChoice;
  cfgApplied: number;
  baked: boolean;
  result: JobResult;
  version: string;
  /** img2img's strength; null for txt2img. */
  denoisingStrength: number | null;
  /** What A1111 would list beside the infotext's fixed fields. */
  extraGenerationParams: Record<string, unknown>;
}

/** The response's `info` (a JSON string in the reply, with exact 64-bit seeds). */
export function generationInfo(parts: GenerationInfoParts): Record<string, unknown> {
  const { body, count, firstSeed, allSeeds, model, identity, sampler, cfgApplied, baked, result, version } = parts;
  const made = result.images;
  return {
    prompt: body.prompt,
    all_prompts: Array(count).fill(body.prompt),
    negative_prompt: body.negative_prompt,
    all_negative_prompts: Array(count).fill(body.negative_prompt),
    seed: firstSeed,
    all_seeds: allSeeds,
    subseed: -1,
    all_subseeds: Array(count).fill(-1),
    subseed_strength: 0,
    width: model.width,
    height: model.height,
    sampler_name: sampler.sampler,
    scheduler: sampler.scheduleType,
    cfg_scale: cfgApplied,
    steps: body.steps,
    batch_size: body.batch_size,
    n_iter: body.n_iter,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: identity.name,
    sd_model_hash: identity.shortHash,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: parts.denoisingStrength,
    extra_generation_params: parts.extraGenerationParams,
    index_of_first_image: 0,
    infotexts: made.map((m) => m.image.parameters),
    styles: [],
    job_timestamp: result.jobTimestamp,
    clip_skip: 1,
    is_using_inpainting_conditioning: false,
    version: `sd-mali ${version}`,
    // sd-mali's own: what the executable did and what stopped early.
    guidance_baked: baked,
    cfg_scale_requested: body.cfg_scale,
    interrupted: result.interrupted,
    skipped_images: result.skipped,
    image_seeds: made.map((m) => m.seed),
  };
}
