/**
 * sd-mali: Stable Diffusion 1.x on TVM-compiled models, from Node.js.
 *
 * The package root exports what docs/api.md lists, and nothing else (test/public-api.test.ts
 * compares the two): everything here is bound by semver. The parts behind it stay in their
 * folders (lib/pipeline, lib/artifacts, ...), where the tests import them from.
 */
export * as tvm from './tvm/index.js';
export {
  SdMaliError,
  TvmError,
  DisposedError,
  RuntimeNotFoundError,
  UnsupportedAbiError,
  RuntimeConflictError,
  ArtifactError,
  AbiMismatchError,
  TokenizerError,
  AbortError,
  InvalidArgumentError,
  DeviceUnavailableError,
  AddonNotBuiltError,
  InvalidImageError,
  RebuildRequiredError,
  type InvalidImageReason,
  type SdMaliErrorCode,
} from './errors.js';
export {
  StableDiffusion,
  type PipelineInfo,
  type TokenIds,
  type GenerateOptions,
  type LoadOptions,
  type LoadPhase,
  type LoadProgress,
  type StepProgress,
} from './pipeline/index.js';
export {
  GeneratedImage,
  readPngText,
  type GenerationParameters,
  type GenerationTimings,
  type ImageInput,
  type RawImage,
  type ResizeMode,
} from './image/index.js';
export { ClipTokenizer, bundledClipTokenizer } from './tokenizer/index.js';
export {
  createScheduler,
  SCHEDULER_NAMES,
  SIGMA_SCHEDULES,
  sigmaSchedulesFor,
  type CreateSchedulerOptions,
  type NoiseSource,
  type Scheduler,
  type SchedulerName,
  type SigmaSchedule,
} from './schedulers/index.js';
export { createGenerator, type TorchGenerator } from './random/index.js';
