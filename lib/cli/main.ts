#!/usr/bin/env node
/** The sd-mali command line: generate, build, doctor, info, cache, serve, worker, status. */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { SdMaliError } from '../errors.js';
import { DEFAULT_SCHEDULER, DEFAULT_STEPS } from '../pipeline/index.js';
import { packageRoot } from '../tvm/native.js';
import { SCHEDULER_NAMES, SIGMA_SCHEDULES, type SchedulerName, type SigmaSchedule } from '../schedulers/index.js';
import { registerBuildCommand } from './build-command.js';
import { cacheClearCommand, cacheInfoCommand } from './cache-command.js';
import { doctorCommand } from './doctor-command.js';
import { generateCommand, type GenerateCommandOptions } from './generate-command.js';
import { infoCommand } from './info-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerWorkerCommand } from './worker-command.js';
import { OutputExistsError } from './output-file.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
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

const program = new Command()
  .name('sd-mali')
  .description('Stable Diffusion 1.5 on TVM-compiled models (the Mali GPU of RK3588 boards, or any OpenCL device)')
  .version(version())
  .showHelpAfterError('(run with --help for usage)');

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
  .option('--program-cache <dir|off>', 'where compiled OpenCL programs are kept between runs (default: SD_MALI_CACHE_DIR, else ~/.cache/sd-mali); off: none')
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

program
  .command('doctor')
  .description('check the TVM runtime, OpenCL devices, Mali driver settings, memory and a model directory')
  .option('-m, --model <dir>', 'model directory to validate (files, shards, functions), without loading weights')
  .option('--tokenizer <dir>', 'CLIP tokenizer folder; default <model>/tokenizer, else the bundled SD 1.x tokenizer')
  .option('-d, --device <device>', 'the device generate will use')
  .option('--runtime <path>', 'libtvm_runtime.so to check')
  .option('--program-cache <dir>', 'the OpenCL program cache to report (default: SD_MALI_CACHE_DIR, else ~/.cache/sd-mali)')
  .option('--allow-cpu-opencl', 'a CPU OpenCL device is wanted (also SD_MALI_ALLOW_CPU_OPENCL=1); otherwise --device opencl on one fails')
  .option('--json', 'machine-readable output')
  .addHelpText(
    'after',
    `
Exit status 0 only when everything generate needs is there.

Examples:
  $ sd-mali doctor
  $ sd-mali doctor --model ./dist --runtime /opt/tvm/build/libtvm_runtime.so`,
  )
  .action(async (opts: { model?: string; tokenizer?: string; device?: string; runtime?: string; programCache?: string; allowCpuOpencl?: boolean; json?: boolean }) => {
    process.exitCode = await doctorCommand(opts);
  });

const cache = program.command('cache').description('the cache of compiled OpenCL programs that makes the second run start fast');
cache
  .command('info')
  .description('where the cache is, how many programs and bytes it holds, and what the last run took from it')
  .option('--program-cache <dir>', 'the cache (default: SD_MALI_CACHE_DIR, else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali)')
  .option('--json', 'machine-readable output')
  .action(async (opts: { programCache?: string; json?: boolean }) => {
    process.exitCode = await cacheInfoCommand(opts);
  });
cache
  .command('clear')
  .description('delete every cached program (the next run builds them from source again)')
  .option('--program-cache <dir>', 'the cache (default: SD_MALI_CACHE_DIR, else $XDG_CACHE_HOME/sd-mali, else ~/.cache/sd-mali)')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExample:\n  $ sd-mali cache clear')
  .action(async (opts: { programCache?: string; json?: boolean }) => {
    process.exitCode = await cacheClearCommand(opts);
  });

program
  .command('info')
  .description("list a model directory's executables, functions, weights and scheduler constants")
  .argument('<dir>', 'model directory')
  .option('--runtime <path>', 'libtvm_runtime.so used to read the function tables')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nExample:\n  $ sd-mali info ./dist')
  .action(async (dir: string, opts: { runtime?: string; json?: boolean }) => {
    process.exitCode = await infoCommand(dir, opts);
  });

registerBuildCommand(program);
registerServeCommand(program);
registerWorkerCommand(program);
registerStatusCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const known = err instanceof SdMaliError || err instanceof OutputExistsError;
  process.stderr.write(`sd-mali: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
  process.exitCode = 1;
}
