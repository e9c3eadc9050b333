/**
 * GET/POST /sdapi/v1/options: A1111's settings that clients read or set, with A1111's
 * defaults. Only these keys are kept, and only scalar values of the default's type (a
 * string of at most MAX_SETTING_LENGTH characters, a finite number, a boolean): a client
 * cannot grow the server's memory or make a later GET fail. Unknown keys are ignored (and
 * named in the log), as A1111 cannot set a key it has no option for. The values are kept
 * for GET only; the model, sampler and output settings are the server's own.
 */
import { fieldError } from './http-errors.js';

export const MAX_SETTING_LENGTH = 1024;

type Scalar = string | number | boolean | null;

/** A1111 1.10's defaults (modules/shared_options.py) for the settings clients touch. */
export const SETTING_DEFAULTS: Readonly<Record<string, Scalar>> = {
  samples_save: true,
  samples_format: 'png',
  samples_filename_pattern: '',
  save_images_add_number: true,
  grid_save: true,
  grid_format: 'png',
  enable_pnginfo: true,
  save_txt: false,
  jpeg_quality: 80,
  export_for_4chan: true,
  outdir_samples: '',
  outdir_txt2img_samples: 'outputs/txt2img-images',
  outdir_img2img_samples: 'outputs/img2img-images',
  outdir_grids: '',
  outdir_txt2img_grids: 'outputs/txt2img-grids',
  save_to_dirs: true,
  sd_model_checkpoint: null,
  sd_checkpoint_hash: '',
  sd_vae: 'Automatic',
  sd_unet: 'Automatic',
  CLIP_stop_at_last_layers: 1,
  sd_checkpoints_limit: 1,
  sd_vae_decode_method: 'Full',
  enable_quantization: false,
  eta_ddim: 0,
  eta_ancestral: 1,
  eta_noise_seed_delta: 0,
  randn_source: 'GPU',
  s_churn: 0,
  s_tmin: 0,
  s_tmax: 0,
  s_noise: 1,
  sigma_min: 0,
  sigma_max: 0,
  rho: 0,
  always_discard_next_to_last_sigma: false,
  use_old_karras_scheduler_sigmas: false,
  add_model_hash_to_info: true,
  add_model_name_to_info: true,
  add_version_to_infotext: true,
  face_restoration: false,
  face_restoration_model: 'CodeFormer',
  tiling: false,
  token_merging_ratio: 0,
  live_previews_enable: true,
  show_progress_every_n_steps: 10,
  show_progress_type: 'Approx cheap',
  live_preview_content: 'Prompt',
  interrupt_after_current: true,
  api_enable_requests: true,
  api_forbid_local_requests: true,
};

export interface SettingsUpdate {
  /** Known keys with acceptable values, to be stored. */
  accepted: Record<string, Scalar>;
  /** Keys this server has no setting for (ignored). */
  unknown: string[];
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** Checks a POST body; throws a 422 (nothing stored) when a known key has a wrong value. */
export function checkSettings(body: Record<string, unknown>): SettingsUpdate {
  const accepted: Record<string, Scalar> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (!Object.hasOwn(SETTING_DEFAULTS, key)) {
      unknown.push(key);
      continue;
    }
    const defaultValue = SETTING_DEFAULTS[key]!;
    const expected = defaultValue === null ? 'string' : typeof defaultValue;
    const actual = typeOf(value);
    if (actual !== expected && !(actual === 'null' && defaultValue === null)) {
      throw fieldError(key, `must be a ${expected} (A1111's type for this setting), got ${actual}`, `type_error.${expected}`);
    }
    if (typeof value === 'string' && value.length > MAX_SETTING_LENGTH) throw fieldError(key, `is longer than ${MAX_SETTING_LENGTH} characters`, 'value_error.any_str.max_length');
    if (typeof value === 'number' && !Number.isFinite(value)) throw fieldError(key, 'must be a finite number', 'value_error.number');
    accepted[key] = value as Scalar;
  }
  return { accepted, unknown };
}
