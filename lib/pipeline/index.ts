export { StableDiffusion, REQUIRED_FUNCTIONS, type PipelineInfo, type TokenIds } from './stable-diffusion.js';
export { inspectModelDirectory, executableFileName, hasTokenizerFiles, EXECUTABLE_KINDS, type ModelDirectory, type ExecutableKind } from './model-directory.js';
export { RelaxVm } from './relax-vm.js';
export {
  DEFAULT_SCHEDULER,
  DEFAULT_STEPS,
  BAKED_GUIDANCE_SCALE,
  type GenerateOptions,
  type LoadOptions,
  type LoadPhase,
  type LoadProgress,
  type StepProgress,
  type SchedulerTuning,
} from './options.js';
export { resolveTokenizerSource, loadTokenizer, describeTokenizerSource, type TokenizerSource, type TokenizerOrigin } from './tokenizer-source.js';
