export { StableDiffusion, REQUIRED_FUNCTIONS, type PipelineInfo, type TokenIds } from './stable-diffusion.js';
export { readManifest, parseManifest, MANIFEST_FILE, type ModelManifest } from './manifest.js';
export { strengthBeginIndex, addNoise, noiseSpace, type NoiseSpace } from './noising.js';
export { inspectModelDirectory, executableFileName, hasTokenizerFiles, EXECUTABLE_KINDS, type ModelDirectory, type ExecutableKind } from './model-directory.js';
export { RelaxVm } from './relax-vm.js';
export {
  DEFAULT_SCHEDULER,
  DEFAULT_STEPS,
  BAKED_GUIDANCE_SCALE,
  DEFAULT_IMG2IMG_STRENGTH,
  DEFAULT_INPAINT_STRENGTH,
  type GenerateOptions,
  type LoadOptions,
  type LoadPhase,
  type LoadProgress,
  type StepProgress,
  type SchedulerTuning,
} from './options.js';
export { resolveTokenizerSource, loadTokenizer, describeTokenizerSource, type TokenizerSource, type TokenizerOrigin } from './tokenizer-source.js';
