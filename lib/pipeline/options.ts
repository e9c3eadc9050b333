/** Options of StableDiffusion.load and generate, and their checks. */
import { InvalidArgumentError } from '../errors.js';
import { RESIZE_MODES, type ImageInput, type ResizeMode } from '../image/input-image.js';
import { createScheduler, isSchedulerName, SCHEDULER_NAMES, type SchedulerName, type SigmaSchedule, type TimestepSpacing } from '../schedulers/index.js';

export type LoadPhase = 'runtime' | 'module' | 'weights' | 'warmup';

export interface LoadProgress {
  phase: LoadPhase;
  loadedBytes: number;
  totalBytes: number;
}

export interface LoadOptions {
  /** 'opencl' | 'cpu' | 'cuda' | 'vulkan' | 'metal', optionally ':<id>'. Default: the first kind whose executable exists and whose device is present. */
  device?: string;
  /**
   * Accept a CPU as the OpenCL device. TVM takes a CPU OpenCL device (PoCL, say) without a
   * word when no GPU driver is registered, and SD 1.5 then takes hours per image, so load
   * refuses one with a DeviceUnavailableError (reason 'cpu-device') unless this is true.
   */
  allowCpuOpenCl?: boolean;
  /** Path of libtvm_runtime.so (else SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH, the system search). */
  tvmRuntime?: string;
  /** The CLIP tokenizer folder; default <dir>/tokenizer. */
  tokenizer?: string;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /**
   * Where compiled OpenCL programs are kept between runs: a directory, or false for none.
   * Default SD_MALI_CACHE_DIR, else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali.
   * Process-wide: the last load's setting applies.
   */
  programCache?: string | false;
  /** The cache's size cap, least recently used entries evicted beyond it. Default 2 GiB. */
  programCacheMaxBytes?: number;
  /** Check each weight shard's md5sum (reads the weights twice). */
  verifyChecksums?: boolean;
  /**
   * Run the text encoder and one UNet call at load: compiles the OpenCL kernels (slow on
   * the first call) and finds out whether guidance is baked into the executable.
   */
  warmup?: boolean;
}

export interface StepProgress {
  /** 1-based index of the UNet call just finished. */
  step: number;
  steps: number;
  timestep: number;
  elapsedMs: number;
  /** The latents after this step (the scheduler's sample, read-only): for previews such as the server's. */
  latents: Float32Array;
}

export interface SchedulerTuning {
  timestepSpacing?: TimestepSpacing;
  /** dpm++2m, dpm++2m-sde, dpm++2s, unipc: 'zero' (diffusers' default) or 'sigma_min'. */
  finalSigmasType?: 'zero' | 'sigma_min';
  /** A1111's schedule type where the sampler takes one (sigmaSchedulesFor(scheduler)). */
  sigmaSchedule?: SigmaSchedule;
}

export interface GenerateOptions {
  negativePrompt?: string;
  /** Inference steps, any integer >= 1. Default 20. */
  steps?: number;
  /** Default 'pndm', the scheduler SD 1.5 ships with. */
  scheduler?: SchedulerName;
  schedulerOptions?: SchedulerTuning;
  /** Seed of the initial noise, identical to torch.manual_seed(seed); torch.randn on the CPU. Default: random. */
  seed?: number | bigint;
  /** Initial noise [1,4,64,64] (before init_noise_sigma), instead of a seed. */
  latents?: Float32Array;
  /**
   * Classifier-free guidance scale. Default 7.5. On a model built by sd-mali build, 1 or less
   * turns guidance off: one batch-1 UNet call per step, no negative prompt encoded (LCM). On
   * the port's build, whose unet bakes 7.5 in, only 7.5.
   */
  guidanceScale?: number;
  /**
   * img2img: the image to start from (a PNG/JPEG/WebP path or file bytes, or raw RGBA),
   * resized to the model's size (resizeMode). With `mask`, inpainting.
   */
  image?: ImageInput;
  /** Inpainting: white (>= 128 luma) is repainted, black kept. Needs `image`; the same size as it. */
  mask?: ImageInput;
  /**
   * How much of the image is redrawn, 0 < strength <= 1: the run starts at step
   * steps - int(steps * strength) (diffusers' get_timesteps). Default 0.8 for img2img,
   * 1 for inpainting (diffusers' defaults).
   */
  strength?: number;
  /** A1111's resize_mode for image and mask: 0 just resize (default), 1 crop and resize, 2 resize and fill. */
  resizeMode?: ResizeMode;
  /** Gaussian blur of the mask in pixels before it is binarised (A1111's mask_blur). Default 0. */
  maskBlur?: number;
  /** Repaint the black part of the mask instead (A1111's inpainting_mask_invert). */
  invertMask?: boolean;
  onStep?: (progress: StepProgress) => void;
  signal?: AbortSignal;
  /**
   * When `signal` fires after the first step: stop there and decode the latents reached
   * (the image is returned) instead of rejecting with an AbortError, as A1111's interrupt does.
   */
  decodeOnAbort?: boolean;
}

export const DEFAULT_STEPS = 20;
export const DEFAULT_SCHEDULER: SchedulerName = 'pndm';
/** The guidance scale the RK3588 build compiles into its unet. */
export const BAKED_GUIDANCE_SCALE = 7.5;

export interface ResolvedGenerateOptions {
  negativePrompt: string;
  steps: number;
  scheduler: SchedulerName;
  schedulerOptions: SchedulerTuning;
  seed: bigint | undefined;
  latents: Float32Array | undefined;
  guidanceScale: number | undefined;
  image: ImageInput | undefined;
  mask: ImageInput | undefined;
  /** Only with an image: the strength asked for or the mode's default. */
  strength: number | undefined;
  resizeMode: ResizeMode;
  maskBlur: number;
  invertMask: boolean;
  onStep: ((p: StepProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  decodeOnAbort: boolean;
}

export const DEFAULT_IMG2IMG_STRENGTH = 0.8;
export const DEFAULT_INPAINT_STRENGTH = 1;

function isImageInput(x: unknown): boolean {
  return typeof x === 'string' || x instanceof Uint8Array || (typeof x === 'object' && x !== null && (x as { data?: unknown }).data instanceof Uint8Array);
}

/** Resolves and checks generate's options; latents are checked against `latentShape` when it is known. */
export function resolveGenerateOptions(options: GenerateOptions, latentShape: readonly number[] | undefined): ResolvedGenerateOptions {
  const latentSize = latentShape?.reduce((a, b) => a * b, 1);
  const steps = options.steps ?? DEFAULT_STEPS;
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw new InvalidArgumentError(`steps must be an integer from 1 to 1000, got ${steps}`);
  const scheduler = options.scheduler ?? DEFAULT_SCHEDULER;
  if (!isSchedulerName(scheduler)) throw new InvalidArgumentError(`unknown scheduler '${String(scheduler)}'; choose one of ${SCHEDULER_NAMES.join(', ')}`);
  if (options.seed !== undefined && options.latents !== undefined) throw new InvalidArgumentError('pass either seed or latents, not both');
  let seed: bigint | undefined;
  if (options.seed !== undefined) {
    if (typeof options.seed === 'number' && !Number.isSafeInteger(options.seed)) throw new InvalidArgumentError(`seed must be an integer (a bigint above 2^53), got ${options.seed}`);
    if (typeof options.seed !== 'number' && typeof options.seed !== 'bigint') throw new InvalidArgumentError('seed must be a number or a bigint');
    seed = BigInt.asUintN(64, BigInt(options.seed));
  }
  if (options.latents !== undefined) {
    if (!(options.latents instanceof Float32Array)) throw new InvalidArgumentError('latents must be a Float32Array');
    if (latentShape && options.latents.length !== latentSize) throw new InvalidArgumentError(`latents must hold ${latentSize} values ([${latentShape.join(',')}]), got ${options.latents.length}`);
  }
  const { image, mask } = options;
  if (image !== undefined && !isImageInput(image)) throw new InvalidArgumentError('image must be a file path, the bytes of a PNG/JPEG/WebP file, or { data, width, height } raw RGBA');
  if (mask !== undefined && !isImageInput(mask)) throw new InvalidArgumentError('mask must be a file path, the bytes of a PNG/JPEG/WebP file, or { data, width, height } raw RGBA');
  if (mask !== undefined && image === undefined) throw new InvalidArgumentError('a mask needs the image it applies to (image)');
  if (image !== undefined && options.latents !== undefined) throw new InvalidArgumentError('pass either an image (img2img) or latents, not both');
  let strength: number | undefined;
  if (options.strength !== undefined) {
    if (image === undefined) throw new InvalidArgumentError('strength applies to img2img and inpainting: pass an image');
    if (typeof options.strength !== 'number' || !(options.strength > 0 && options.strength <= 1)) throw new InvalidArgumentError(`strength must be a number in (0, 1], got ${String(options.strength)}`);
    strength = options.strength;
    // diffusers' get_timesteps runs int(steps * strength) steps: none is an error there too.
    if (Math.trunc(steps * strength) < 1) throw new InvalidArgumentError(`strength ${strength} with ${steps} steps leaves no denoising step (int(steps * strength) is 0); raise the strength or the steps`);
  } else if (image !== undefined) {
    strength = mask !== undefined ? DEFAULT_INPAINT_STRENGTH : DEFAULT_IMG2IMG_STRENGTH;
  }
  const resizeMode = options.resizeMode ?? 0;
  if (!RESIZE_MODES.includes(resizeMode)) throw new InvalidArgumentError(`resizeMode must be 0 (just resize), 1 (crop and resize) or 2 (resize and fill), got ${String(resizeMode)}`);
  const maskBlur = options.maskBlur ?? 0;
  if (typeof maskBlur !== 'number' || !(maskBlur >= 0 && maskBlur <= 64)) throw new InvalidArgumentError(`maskBlur must be 0 to 64 pixels, got ${String(maskBlur)}`);
  const g = options.guidanceScale;
  if (g !== undefined && (typeof g !== 'number' || !Number.isFinite(g))) throw new InvalidArgumentError(`guidanceScale must be a finite number, got ${String(g)}`);
  const schedulerOptions = options.schedulerOptions ?? {};
  try {
    // Building the schedule checks what only the sampler knows (accepted sigma schedules,
    // LCM's 50-step limit), before any model work.
    createScheduler(scheduler, { steps, ...schedulerOptions });
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  const negativePrompt = options.negativePrompt ?? '';
  if (typeof negativePrompt !== 'string') throw new InvalidArgumentError('negativePrompt must be a string');
  return {
    negativePrompt,
    steps,
    scheduler,
    schedulerOptions,
    seed,
    latents: options.latents,
    guidanceScale: g,
    image,
    mask,
    strength,
    resizeMode,
    maskBlur,
    invertMask: options.invertMask === true,
    onStep: options.onStep,
    signal: options.signal,
    decodeOnAbort: options.decodeOnAbort === true,
  };
}

/** A random 32-bit seed, reported back so the image can be made again. */
export function randomSeed(): bigint {
  return BigInt(Math.floor(Math.random() * 0x100000000));
}
