/**
 * sd-mali: Stable Diffusion 1.x on TVM-compiled models, from Node.js.
 */
export * as tvm from './tvm/index.js';
export * from './errors.js';
export * from './artifacts/index.js';
export { ClipTokenizer, CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, bundledClipTokenizer, type ClipTokenizerConfig } from './tokenizer/index.js';
export {
  createScheduler,
  isSchedulerName,
  isSigmaSchedule,
  SCHEDULER_NAMES,
  SIGMA_SCHEDULES,
  sigmaSchedulesFor,
  SD15_TRAINING,
  trainingSchedule,
  type CreateSchedulerOptions,
  type NoiseSource,
  type Scheduler,
  type SchedulerName,
  type SchedulerOptions,
  type SigmaSchedule,
  type TimestepSpacing,
  type TrainingConfig,
} from './schedulers/index.js';
export { createGenerator, TorchGenerator } from './random/index.js';
export * from './pipeline/index.js';
export {
  GeneratedImage,
  formatParameters,
  encodePng,
  readPngText,
  loadInputImage,
  loadMask,
  RESIZE_MODES,
  type GenerationParameters,
  type GenerationTimings,
  type ImageInput,
  type RawImage,
  type ResizeMode,
  type ImageLimits,
} from './image/index.js';
