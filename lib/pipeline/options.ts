/** Options of StableDiffusion.load and generate, and their checks. */
import { InvalidArgumentError } from '../errors.js';
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
  /** Classifier-free guidance scale. Only where the executable does not bake it in; otherwise only 7.5. */
  guidanceScale?: number;
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
  onStep: ((p: StepProgress) => void) | undefined;
  signal: AbortSignal | undefined;
  decodeOnAbort: boolean;
}

export function resolveGenerateOptions(options: GenerateOptions, latentSize: number): ResolvedGenerateOptions {
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
    if (options.latents.length !== latentSize) throw new InvalidArgumentError(`latents must hold ${latentSize} values ([1,4,64,64]), got ${options.latents.length}`);
  }
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
    onStep: options.onStep,
    signal: options.signal,
    decodeOnAbort: options.decodeOnAbort === true,
  };
}

/** A random 32-bit seed, reported back so the image can be made again. */
export function randomSeed(): bigint {
  return BigInt(Math.floor(Math.random() * 0x100000000));
}
