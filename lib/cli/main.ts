#!/usr/bin/env node
/** The sd-mali command line: generate, build, doctor, info, cache, serve, worker, status. */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { SdMaliError } from '../errors.js';
import { DEFAULT_SCHEDULER, DEFAULT_STEPS } from '../pipeline/index.js';
import { packageVersion } from '../package-version.js';
import { SCHEDULER_NAMES, SIGMA_SCHEDULES, type SchedulerName, type SigmaSchedule } from '../schedulers/index.js';
import { registerBuildCommand } from './build-command.js';
import { cacheClearCommand, cacheInfoCommand } from './cache-command.js';
import { doctorCommand } from './doctor-command.js';
import { generateCommand } from './generate-command.js';
import { infoCommand } from './info-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerWorkerCommand } from './worker-command.js';
import { OutputExistsError } from './output-file.js';
import { programCacheOption } from './program-cache-option.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderArgumentError('must be an integer >= 1');
  return n;
}

function seedValue(value: string): bigint {
  if (!/^-?\d+$/.test(value)) throw new CommanderArgumentError('must be an integer');
  return BigInt(value);
}

const program = new Command()
  .name('sd-mali')
  .description('Stable Diffusion 1.5 on TVM-compiled models (the Mali GPU of RK3588 boards, or any OpenCL device)')
  .version(packageVersion())
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
  $ SD_MALI_TVM_RUNTIME=/opt/tvm/build/libtvm_runtime.so sd-mali generate "a lighthouse" --json`,
  )
  .action(async (prompt: string, opts: { negative?: string; model: string; tokenizer?: string; device?: string; steps: number; scheduler: SchedulerName; sigmaSchedule?: SigmaSchedule; seed?: bigint; output?: string; runtime?: string; programCache?: string | false; warmup?: boolean; allowCpuOpencl?: boolean; json?: boolean; force?: boolean }) => {
    process.exitCode = await generateCommand(prompt, opts);
  });

program
  .command('doctor')
  .description('check the TVM runtime, OpenCL devices, Mali driver settings, memory and a model directory')
  .option('-m, --model <dir>', 'model directory to validate (files, shards, functions), without loading weights')
  .option('--tokenizer <dir>', 'CLIP tokenizer folder; default <model>/tokenizer, else the bundled SD 1.x tokenizer')
  .option('-d, --device <device>', 'the device generate will use')
  .option('--runtime <path>', 'libtvm_runtime.so to check')
  .addOption(programCacheOption('inspect'))
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
  .addOption(programCacheOption('inspect'))
  .option('--json', 'machine-readable output')
  .action(async (opts: { programCache?: string; json?: boolean }) => {
    process.exitCode = await cacheInfoCommand(opts);
  });
cache
  .command('clear')
  .description('delete every cached program (the next run builds them from source again)')
  .addOption(programCacheOption('inspect'))
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
