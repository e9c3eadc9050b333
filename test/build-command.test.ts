// `sd-mali build` and `build()` as a user meets them: a missing toolchain says what to install,
// bad input comes back as a typed BuildError, Ctrl-C stops the flow with nothing written, a
// --target mali build is aarch64 host code with OpenCL kernels that `sd-mali info` reads.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, BuildError, BuildToolsMissingError } from '../lib/build/index.js';
import { executableMachine } from '../lib/artifacts/index.js';
import { parseLora } from '../lib/cli/build-command.js';
import { cliEnv, runCliAsync, startCli } from './support/cli.js';
import { tinyModel, TINY_SOURCE } from './support/compiled-models.js';
import { IN_CI, REPO_ROOT, titled } from './support/shared-data.js';

const venvPython = join(REPO_ROOT, '.venv-build', 'bin', 'python');
const buildPython = process.env['SD_MALI_BUILD_PYTHON'] ?? (existsSync(venvPython) ? venvPython : undefined);
const flow = {
  available: buildPython !== undefined && existsSync(TINY_SOURCE),
  reason: buildPython === undefined ? 'no Python with the compile flow (SD_MALI_BUILD_PYTHON or .venv-build; .ci/run makes it)' : `no tiny model at ${TINY_SOURCE}`,
  path: '',
};
if (IN_CI && !flow.available) throw new Error(`CI=true but ${flow.reason}`);

function outputDir(): { parent: string; out: string } {
  const parent = mkdtempSync(join(tmpdir(), 'sd-mali-build-test-'));
  const out = join(parent, 'dist');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'the previous model');
  return { parent, out };
}

function untouched(parent: string, out: string): void {
  expect(readdirSync(out)).toEqual(['keep.txt']);
  expect(readdirSync(parent).filter((n) => n.includes('.partial-'))).toEqual([]);
}

describe('--lora FILE[:SCALE]', () => {
  it('takes the scale after the last colon when it is a number, and keeps colons in paths', () => {
    expect(parseLora('lcm.safetensors')).toEqual([{ path: 'lcm.safetensors' }]);
    expect(parseLora('lcm.safetensors:0.75')).toEqual([{ path: 'lcm.safetensors', scale: 0.75 }]);
    expect(parseLora('C:/x.safetensors:-1e-1', [{ path: 'a' }])).toEqual([{ path: 'a' }, { path: 'C:/x.safetensors', scale: -0.1 }]);
    expect(parseLora('weird:name.safetensors')).toEqual([{ path: 'weird:name.safetensors' }]);
  });
});

describe('a missing compile flow', () => {
  it('names each Python it tried and the command that installs the flow', async () => {
    const err = await build(join(TINY_SOURCE, 'checkpoint.safetensors'), { out: join(tmpdir(), 'never'), python: '/nonexistent/python3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildToolsMissingError);
    const message = (err as Error).message;
    expect(message).toContain('/nonexistent/python3');
    expect(message).toMatch(/python3 -m venv .* && .*pip install '.*compiler'/);
  });

  it('the CLI prints that message, not a stack trace', async () => {
    const r = await runCliAsync(['build', 'x.safetensors', '--out', join(tmpdir(), 'never'), '--python', '/nonexistent/python3'], { env: cliEnv() });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sd-mali: no Python with sd-mali's compile flow/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!flow.available)(titled('the compile flow from Node', flow), () => {
  it('a pickle checkpoint is a BuildError (UNSUPPORTED_CHECKPOINT) and the output is untouched', async () => {
    const { parent, out } = outputDir();
    const ckpt = join(parent, 'model.ckpt');
    writeFileSync(ckpt, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64)]));
    const err = await build(ckpt, { out, force: true, target: 'cpu', python: buildPython! }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).reason).toBe('UNSUPPORTED_CHECKPOINT');
    expect((err as BuildError).message).toMatch(/pickle/);
    untouched(parent, out);
  });

  it('the CLI reports a truncated file by name and exits 1', async () => {
    const { parent, out } = outputDir();
    const cut = join(parent, 'cut.safetensors');
    const whole = (await import('node:fs')).readFileSync(join(TINY_SOURCE, 'checkpoint.safetensors'));
    writeFileSync(cut, whole.subarray(0, whole.length - 4096));
    const r = await runCliAsync(['build', cut, '--out', out, '--force', '--target', 'cpu', '--python', buildPython!, '--config', join(TINY_SOURCE, 'diffusers')], { env: cliEnv() });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cut\.safetensors is truncated/);
    untouched(parent, out);
  });

  it('Ctrl-C stops the build: exit 130, nothing written, no staging left', async () => {
    const { parent, out } = outputDir();
    const child = startCli(['build', join(TINY_SOURCE, 'checkpoint.safetensors'), '--out', out, '--force', '--target', 'cpu', '--python', buildPython!, '--config', join(TINY_SOURCE, 'diffusers')], { env: cliEnv() });
    let stderr = '';
    const compiling = new Promise<void>((resolve) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        // Interrupt once the flow is past reading, while TVM works.
        if (/lowering|generating|scheduling/.test(stderr)) resolve();
      });
    });
    await compiling;
    child.kill('SIGINT');
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(status).toBe(130);
    expect(stderr).toMatch(/interrupted: nothing was written/);
    untouched(parent, out);
  }, 180_000);
});

const mali = tinyModel('mali', 'float32');
describe.skipIf(!mali.available)(titled('a --target mali build', mali), () => {
  it('is aarch64 host code with OpenCL kernels, refused on this machine with the remedy, listed by sd-mali info', async () => {
    expect(executableMachine(join(mali.path, 'stable_diffusion_opencl.so'))).toBe('aarch64');
    const r = await runCliAsync(['info', mali.path, '--json'], { env: cliEnv() });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { executables: Record<string, { machine: string; functions: string[]; functionsFrom: string }>; manifest: { target: { name: string; host: string }; opencl: { programs: number } }; tvm: { executables: Record<string, { abi: string }> } };
    expect(report.executables['opencl']).toMatchObject({ machine: 'aarch64', functionsFrom: 'manifest' });
    expect(report.executables['opencl']!.functions).toEqual(['clip', 'concat_embeddings', 'image_to_rgba', 'unet', 'vae', 'vae_encode']);
    expect(report.tvm.executables['opencl']!.abi).toBe('tvm-ffi');
    expect(report.manifest.target).toMatchObject({ name: 'mali', host: 'aarch64-linux-gnu' });
    expect(report.manifest.opencl.programs).toBeGreaterThan(20);
  });
});
