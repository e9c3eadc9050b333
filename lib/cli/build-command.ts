/** sd-mali build <checkpoint>: compile an SD 1.x checkpoint into a model directory (the Python compile flow). */
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { AbortError } from '../errors.js';
import { build, BUILD_DTYPES, BUILD_TARGETS, type BuildDtype, type BuildProgress, type BuildTarget, type LoraInput } from '../build/index.js';
import { formatBytes } from './model-report.js';

interface BuildCommandOptions {
  out: string;
  target: BuildTarget;
  dtype: BuildDtype;
  vaeDtype?: BuildDtype;
  lora: LoraInput[];
  config?: string;
  python?: string;
  force?: boolean;
  json?: boolean;
}

/** `FILE[:SCALE]`: the scale is what follows the last colon when it is a number. */
export function parseLora(value: string, previous: LoraInput[] = []): LoraInput[] {
  const colon = value.lastIndexOf(':');
  if (colon > 0) {
    const tail = value.slice(colon + 1);
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(tail)) return [...previous, { path: value.slice(0, colon), scale: Number(tail) }];
  }
  if (value.length === 0) throw new CommanderArgumentError('needs a file');
  return [...previous, { path: value }];
}

const PHASES: Record<string, string> = {
  read: 'reading the checkpoint',
  hash: 'hashing the checkpoint',
  export: 'exporting the networks',
  weights: 'converting weights',
  lower: 'lowering to kernels',
  schedule: 'scheduling kernels',
  codegen: 'generating code',
  link: 'linking',
};

/** A bar for the counted phases (tensors, kernels) on a terminal, a line per phase otherwise. */
function progressView(quiet: boolean): { update(p: BuildProgress): void; stop(): void } {
  if (quiet) return { update() {}, stop() {} };
  let phase = '';
  let bar: SingleBar | undefined;
  const tty = process.stderr.isTTY;
  return {
    update(p) {
      if (p.phase !== phase) {
        bar?.stop();
        bar = undefined;
        phase = p.phase;
        if (!(tty && p.total !== undefined)) process.stderr.write(`${PHASES[p.phase] ?? p.phase}${p.total !== undefined ? ` (${p.total})` : ''}…\n`);
      }
      if (tty && p.total !== undefined && p.done !== undefined) {
        bar ??= new SingleBar({ stream: process.stderr, format: ` ${(PHASES[p.phase] ?? p.phase).padEnd(20)} |{bar}| {value}/{total} {detail}` }, Presets.shades_classic);
        if (!bar.isActive) bar.start(p.total, 0, { detail: '' });
        bar.update(p.done, { detail: p.bytes !== undefined ? formatBytes(p.bytes) : '' });
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

export async function buildCommand(checkpoint: string, opts: BuildCommandOptions): Promise<number> {
  const controller = new AbortController();
  const view = progressView(opts.json === true);
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error('interrupted (SIGINT)'));
  };
  process.on('SIGINT', onSignal);
  try {
    const result = await build(checkpoint, {
      out: opts.out,
      target: opts.target,
      dtype: opts.dtype,
      loras: opts.lora,
      signal: controller.signal,
      onProgress: (p) => view.update(p),
      ...(opts.vaeDtype !== undefined ? { vaeDtype: opts.vaeDtype } : {}),
      ...(opts.config !== undefined ? { config: opts.config } : {}),
      ...(opts.python !== undefined ? { python: opts.python } : {}),
      ...(opts.force ? { force: true } : {}),
    });
    view.stop();
    const m = result.manifest;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
    } else {
      const cl = m.opencl ? `, ${m.opencl.programs} OpenCL programs (${formatBytes(m.opencl.sourceBytes)} of source)` : '';
      process.stdout.write(
        `built ${result.out}: ${m.target.name} ${m.precision}, ${m.image.width}x${m.image.height}, ${formatBytes(m.weights.bytes)} of weights${cl}, ` +
          `TVM ${m.tvmVersion} (the board's runtime must be this version), ${m.compileSeconds} s to compile\n`,
      );
    }
    return 0;
  } catch (err) {
    view.stop();
    if (err instanceof AbortError) {
      process.stderr.write('interrupted: nothing was written\n');
      return 130;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('compile an SD 1.x checkpoint (.safetensors single file or diffusers folder) into a model directory')
    .argument('<checkpoint>', 'the .safetensors file people download (original LDM layout), or a diffusers folder')
    .requiredOption('-o, --out <dir>', 'the model directory to write')
    .addOption(new Option('--target <target>', 'mali: OpenCL kernels + aarch64 host code for RK3588 boards; opencl: this machine; cpu').choices([...BUILD_TARGETS]).default('mali'))
    .addOption(new Option('--dtype <dtype>', 'weights and arithmetic precision').choices([...BUILD_DTYPES]).default('float32'))
    .addOption(new Option('--vae-dtype <dtype>', "the VAE's precision, when it should differ").choices([...BUILD_DTYPES]))
    .option('--lora <file[:scale]>', 'merge a LoRA into the weights (repeatable), e.g. an LCM-LoRA for 4-step images', parseLora, [])
    .option('--config <dir>', "a diffusers folder whose config.json files give a single file's architecture (for models that are not SD 1.5-sized)")
    .option('--python <path>', 'the Python that has sd_mali_build (else SD_MALI_BUILD_PYTHON, ~/.sd-mali/build-venv, python3)')
    .option('-f, --force', 'replace a non-empty output directory')
    .option('--json', 'print the manifest as JSON instead of progress and a line')
    .addHelpText(
      'after',
      `
Examples:
  $ sd-mali build ./dreamshaper_8.safetensors --out ./dist
  $ sd-mali build ./v1-5-pruned-emaonly.safetensors --out ./dist-lcm --lora ./lcm-lora-sdv1-5.safetensors:1.0
  $ sd-mali build ./sd15-diffusers --out ./dist-cpu --target cpu --dtype float32`,
    )
    .action(async (checkpoint: string, opts: BuildCommandOptions) => {
      process.exitCode = await buildCommand(checkpoint, opts);
    });
}
