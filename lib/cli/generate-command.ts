/** sd-mali generate "<prompt>": load the model, make one image, write it as a PNG. */
import { AbortError } from '../errors.js';
import { inputImageSize } from '../image/input-image.js';
import { StableDiffusion, type GenerateOptions } from '../pipeline/index.js';
import { randomSeed } from '../pipeline/options.js';
import { checkGenerateOptions } from '../pipeline/stable-diffusion.js';
import type { SchedulerName, SigmaSchedule } from '../schedulers/index.js';
import { allowCpuOpenCl, describeDevice } from './cpu-opencl.js';
import { checkWritable, defaultOutputName, writeAtomically } from './output-file.js';
import { createProgress } from './progress.js';

export interface GenerateCommandOptions {
  negative?: string;
  model: string;
  tokenizer?: string;
  device?: string;
  steps: number;
  scheduler: SchedulerName;
  sigmaSchedule?: SigmaSchedule;
  seed?: bigint;
  output?: string;
  runtime?: string;
  /** A directory, or 'off'. */
  programCache?: string;
  warmup?: boolean;
  /** Accept a CPU OpenCL device (also SD_MALI_ALLOW_CPU_OPENCL=1). */
  allowCpuOpencl?: boolean;
  json?: boolean;
  force?: boolean;
  cfg?: number;
  /** img2img / inpainting. */
  initImage?: string;
  strength?: number;
  mask?: string;
  resizeMode?: 0 | 1 | 2;
  maskBlur?: number;
  invertMask?: boolean;
}

export async function generateCommand(prompt: string, opts: GenerateCommandOptions): Promise<number> {
  const seed = opts.seed ?? randomSeed();
  const output = opts.output ?? defaultOutputName(seed, prompt);
  const controller = new AbortController();
  const generateOptions: GenerateOptions = {
    steps: opts.steps,
    scheduler: opts.scheduler,
    ...(opts.sigmaSchedule !== undefined ? { schedulerOptions: { sigmaSchedule: opts.sigmaSchedule } } : {}),
    seed,
    signal: controller.signal,
    onStep: (s) => progress.step(s),
    ...(opts.negative !== undefined ? { negativePrompt: opts.negative } : {}),
    ...(opts.cfg !== undefined ? { guidanceScale: opts.cfg } : {}),
    ...(opts.initImage !== undefined ? { image: opts.initImage } : {}),
    ...(opts.strength !== undefined ? { strength: opts.strength } : {}),
    ...(opts.mask !== undefined ? { mask: opts.mask } : {}),
    ...(opts.resizeMode !== undefined ? { resizeMode: opts.resizeMode } : {}),
    ...(opts.maskBlur !== undefined ? { maskBlur: opts.maskBlur } : {}),
    ...(opts.invertMask ? { invertMask: true } : {}),
  };
  // Refuse before minutes of work, not after: the options as generate will check them, and
  // the output file.
  checkGenerateOptions(generateOptions);
  // The input images too: a missing or unreadable file is reported before the model loads.
  for (const [flag, file] of [['--init-image', opts.initImage], ['--mask', opts.mask]] as const) {
    if (file !== undefined) await inputImageSize(file, flag);
  }
  checkWritable(output, opts.force === true);

  const progress = createProgress(opts.json ? 'silent' : 'auto');

  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
    progress.log('interrupted: stopping after the current step (Ctrl-C again to quit at once)');
    controller.abort(new Error('interrupted (SIGINT)'));
  };
  process.on('SIGINT', onSignal);
  let pipe: StableDiffusion | undefined;
  try {
    pipe = await StableDiffusion.load(opts.model, {
      ...(opts.device !== undefined ? { device: opts.device } : {}),
      ...(opts.runtime !== undefined ? { tvmRuntime: opts.runtime } : {}),
      ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}),
      ...(opts.programCache !== undefined ? { programCache: opts.programCache === 'off' ? (false as const) : opts.programCache } : {}),
      ...(opts.warmup ? { warmup: true } : {}),
      allowCpuOpenCl: allowCpuOpenCl(opts.allowCpuOpencl),
      signal: controller.signal,
      onProgress: (p) => progress.load(p),
    });
    progress.log(`device: ${describeDevice(pipe.info)}`);
    const image = await pipe.generate(prompt, generateOptions);
    progress.stop();
    const written = await writeAtomically(output, await image.toPNG(), opts.force === true);
    const summary = {
      output: written,
      prompt,
      negativePrompt: opts.negative ?? '',
      seed: String(image.seed),
      steps: opts.steps,
      scheduler: opts.scheduler,
      ...(opts.sigmaSchedule !== undefined ? { sigmaSchedule: opts.sigmaSchedule } : {}),
      guidanceScale: image.parameters.guidanceScale,
      ...(image.parameters.denoisingStrength !== undefined ? { denoisingStrength: image.parameters.denoisingStrength } : {}),
      unetCalls: image.timings.unetMs.length,
      device: pipe.info.device,
      deviceKind: pipe.info.deviceKind,
      deviceName: pipe.info.openClDevice?.name ?? pipe.info.deviceName,
      width: image.width,
      height: image.height,
      timings: image.timings,
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      const unet = image.timings.unetMs.reduce((a, b) => a + b, 0);
      process.stdout.write(
        `wrote ${written} (${image.width}x${image.height}, seed ${image.seed}, ${opts.scheduler}, ${opts.steps} steps, ` +
          (image.parameters.denoisingStrength !== undefined ? `${opts.mask ? 'inpainting' : 'img2img'} strength ${image.parameters.denoisingStrength}, ` : '') +
          `${(image.timings.totalMs / 1000).toFixed(1)} s total, ${(unet / image.timings.unetMs.length / 1000).toFixed(2)} s per UNet step)\n`,
      );
    }
    return 0;
  } catch (err) {
    progress.stop();
    if (err instanceof AbortError) {
      process.stderr.write(`aborted: ${err.message}; nothing was written\n`);
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    pipe?.dispose();
  }
}
