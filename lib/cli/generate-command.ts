/** sd-mali generate "<prompt>": load the model, make one image, write it as a PNG. */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { AbortError } from '../errors.js';
import { inputImageSize } from '../image/input-image.js';
import { DEFAULT_SCHEDULER, DEFAULT_STEPS, StableDiffusion, type GenerateOptions } from '../pipeline/index.js';
import { randomSeed } from '../pipeline/options.js';
import { checkGenerateOptions } from '../pipeline/stable-diffusion.js';
import { SCHEDULER_NAMES, SIGMA_SCHEDULES, type SchedulerName, type SigmaSchedule } from '../schedulers/index.js';
import { allowCpuOpenCl, describeDevice } from './cpu-opencl.js';
import { checkWritable, defaultOutputName, writeAtomically } from './output-file.js';
import { programCacheOption } from './program-cache-option.js';
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
  /** A directory, or false (--program-cache off). */
  programCache?: string | false;
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
      ...(opts.programCache !== undefined ? { programCache: opts.programCache } : {}),
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

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError('must be an integer >= 1');
  return n;
}

function strengthValue(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new CommanderArgumentError('must be a number in (0, 1]');
  return n;
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new CommanderArgumentError('must be a number');
  return n;
}

function seedValue(value: string): bigint {
  if (!/^-?\d+$/.test(value)) throw new CommanderArgumentError('must be an integer');
  return BigInt(value);
}

/** Adds `generate` to the sd-mali program. */
export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('make an image from a prompt and write it as a PNG')
    .argument('<prompt>', 'what to draw')
    .option('--negative <text>', 'negative prompt')
    .option('-m, --model <dir>', 'model directory written by the TVM build', './dist')
    .option('--tokenizer <dir>', 'CLIP tokenizer folder (vocab.json + merges.txt, or tokenizer.json); default <model>/tokenizer, else the SD 1.x tokenizer bundled with sd-mali')
    .option('-d, --device <device>', "'opencl', 'cpu', 'cuda', 'vulkan' or 'metal', optionally ':<id>'; default: the first that works")
    .option('-s, --steps <n>', 'inference steps', positiveInt, DEFAULT_STEPS)
    .addOption(new Option('--scheduler <name>', 'sampler').choices([...SCHEDULER_NAMES]).default(DEFAULT_SCHEDULER))
    .addOption(new Option('--sigma-schedule <type>', "schedule type (A1111's Karras, Exponential, Beta) for samplers that take one; default: the sampler's own").choices([...SIGMA_SCHEDULES]))
    .option('--seed <n>', 'seed of the initial noise (torch.manual_seed-compatible); default random', seedValue)
    .option('--cfg <scale>', 'classifier-free guidance scale (default 7.5); 1 turns guidance off: one batch-1 UNet call per step (LCM)', finiteNumber)
    .option('--init-image <file>', 'img2img: start from this PNG, JPEG or WebP, resized to the model\'s size')
    .option('--strength <x>', 'img2img/inpainting: how much of the image is redrawn, 0 < x <= 1 (default 0.8; 1 with --mask)', strengthValue)
    .option('--mask <file>', 'inpainting: white is repainted, black kept; the size of --init-image')
    .addOption(new Option('--resize-mode <n>', "A1111's resize_mode for --init-image and --mask: 0 just resize, 1 crop and resize, 2 resize and fill").choices(['0', '1', '2']).default('0'))
    .option('--mask-blur <px>', 'blur the mask by this many pixels before it is binarised', finiteNumber)
    .option('--invert-mask', 'repaint the black part of the mask instead')
    .option('-o, --output <file>', 'PNG to write; default sd-<seed>-<prompt>.png')
    .option('--runtime <path>', 'libtvm_runtime.so to use (else SD_MALI_TVM_RUNTIME, TVM_LIBRARY_PATH, system search)')
    .addOption(programCacheOption('use'))
    .option('--warmup', 'build every kernel before the first step, shown as its own phase')
    .option('--allow-cpu-opencl', 'accept a CPU as the OpenCL device (e.g. PoCL; also SD_MALI_ALLOW_CPU_OPENCL=1); refused otherwise')
    .option('--json', 'print a JSON summary instead of progress and a line')
    .option('-f, --force', 'overwrite the output file')
    .addHelpText(
      'after',
      `
Examples:
  $ sd-mali generate "an astronaut riding a horse" --model ./dist --steps 20 --seed 42
  $ sd-mali generate "a red fox in a misty forest" --negative "blurry" --scheduler dpm++2m-karras -o fox.png
  $ sd-mali generate "a harbour at dusk" --scheduler heun --sigma-schedule exponential --steps 12
  $ SD_MALI_TVM_RUNTIME=/opt/tvm/build/libtvm_runtime.so sd-mali generate "a lighthouse" --json
  $ sd-mali generate "a watercolour of a harbour" --init-image photo.png --strength 0.6
  $ sd-mali generate "a red door" --init-image house.png --mask door-mask.png --scheduler ddim
  $ sd-mali generate "a lighthouse at dusk" --scheduler lcm --steps 4 --cfg 1   # a model with an LCM-LoRA merged`,
    )
    .action(async (prompt: string, opts: Omit<GenerateCommandOptions, 'resizeMode'> & { resizeMode: string }) => {
      process.exitCode = await generateCommand(prompt, { ...opts, resizeMode: Number(opts.resizeMode) as 0 | 1 | 2 });
    });
}
