// The sd-mali command line, run as a user runs it: the package's bin, in a child process.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTimestep } from '../lib/cli/progress.js';
import { readPngText } from '../lib/image/index.js';
import * as tvm from '../lib/tvm/index.js';
import { cliEnv, runCli, runCliAsync, startCli } from './support/cli.js';
import { deviceUnavailable, TEST_DEVICES } from './support/devices.js';
import { makeModelDir, truncateFile } from './support/model-dirs.js';
import { otherStandin, sharedData, testRuntime, testStandin, titled } from './support/shared-data.js';
import { decodeRgbaPng } from './support/png-decode.js';
import { maxByteDifference, promptCases } from './support/references.js';

const runtimeInfo = testRuntime();
const standin = testStandin();
const tokenizer = sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
const ready = { available: runtimeInfo.available && standin.available && tokenizer.available, reason: runtimeInfo.reason || standin.reason || tokenizer.reason, path: '' };
const withRuntime = (): NodeJS.ProcessEnv => cliEnv({ SD_MALI_TVM_RUNTIME: runtimeInfo.path });
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'sd-mali-cli-'));

/** PNG width and height from its IHDR chunk. */
function pngSize(png: Buffer): [number, number] {
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

describe('progress lines', () => {
  it('print integer timesteps as they are and float ones to two decimals', () => {
    expect(formatTimestep(951)).toBe('951');
    expect(formatTimestep(52.578948974609375)).toBe('52.58');
    expect(formatTimestep(0.5)).toBe('0.5');
  });
});

describe('sd-mali without a runtime', () => {
  it('doctor fails, naming every path tried and what to set', () => {
    const r = runCli(['doctor'], { env: cliEnv({ TVM_LIBRARY_PATH: '/nonexistent/tvm/build', LD_LIBRARY_PATH: '' }) });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('[ ok ] addon');
    expect(r.stdout).toContain('[FAIL] runtime   no TVM runtime could be opened; tried:');
    expect(r.stdout).toContain('/nonexistent/tvm/build/libtvm_runtime.so (TVM_LIBRARY_PATH)');
    expect(r.stdout).toContain('libtvm_runtime.so (system library search (LD_LIBRARY_PATH, ld.so.cache))');
    expect(r.stdout).toContain('-> build TVM with USE_OPENCL=ON and set SD_MALI_TVM_RUNTIME=/path/to/libtvm_runtime.so (or pass --runtime)');
    expect(r.stdout).toMatch(/1 problem to fix before generate will work\n$/);
  });

  it('doctor --runtime with a wrong path fails with the remedy', () => {
    const r = runCli(['doctor', '--runtime', '/wrong/libtvm_runtime.so']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('/wrong/libtvm_runtime.so (tvmRuntime option): /wrong/libtvm_runtime.so: cannot open shared object file: No such file or directory');
    expect(r.stdout).toContain('-> build TVM with USE_OPENCL=ON');
  });

  it('generate with a wrong runtime fails before writing anything', () => {
    const cwd = tempDir();
    const r = runCli(['generate', 'x', '--runtime', '/wrong/libtvm_runtime.so', '--model', standin.available ? standin.path : cwd, '--tokenizer', tokenizer.available ? tokenizer.path : cwd], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sd-mali: /);
    expect(readdirSync(cwd)).toEqual([]);
  });

  // Issue 15, item 9: --steps 5000 was refused only after every weight was on the device.
  it('generate refuses bad options (--steps 5000) before it opens the runtime or the model', () => {
    const cwd = tempDir();
    const r = runCli(['generate', 'x', '--steps', '5000', '--model', '/nonexistent/model', '--runtime', '/wrong/libtvm_runtime.so'], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('sd-mali: steps must be an integer from 1 to 1000, got 5000\n');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('--help of each command shows its options and examples', () => {
    for (const cmd of ['generate', 'doctor', 'info']) {
      const r = runCli([cmd, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: sd-mali ${cmd}`);
      expect(r.stdout).toContain('Example');
    }
    const bad = runCli(['generate', 'x', '--scheduler', 'nope']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("argument 'nope' is invalid");
    // A schedule type the sampler does not take is refused before any model work.
    const noSchedule = runCli(['generate', 'x', '--scheduler', 'ddim', '--sigma-schedule', 'karras']);
    expect(noSchedule.status).not.toBe(0);
    expect(noSchedule.stderr).toContain("scheduler 'ddim' has no sigma schedule option");
  });
});

describe.skipIf(!ready.available)(titled('sd-mali with the runtime and the stand-in model', ready), () => {
  const base = (): string[] => ['--model', standin.path, '--tokenizer', tokenizer.path];

  for (const device of TEST_DEVICES) {
    it(`generate on ${device} writes a 512x512 PNG with its parameters, the same bytes for the same seed`, async ({ skip }) => {
      const why = deviceUnavailable(tvm.loadRuntime({ library: runtimeInfo.path }), device);
      if (why) skip(why);
      const cwd = tempDir();
      const args = ['generate', 'a red fox in a misty forest', ...base(), '--device', device, '--steps', '8', '--scheduler', 'dpm++2m', '--seed', '1234'];
      // Asynchronous: a synchronous child of half a minute on PoCL starves vitest's worker RPC.
      const first = await runCliAsync([...args, '-o', 'one.png'], { cwd, env: withRuntime() });
      expect(first.stderr).not.toMatch(/sd-mali: /);
      expect(first.status).toBe(0);
      expect(first.stdout).toMatch(/^wrote .*one\.png \(512x512, seed 1234, dpm\+\+2m, 8 steps/);
      const second = await runCliAsync([...args, '-o', 'two.png'], { cwd, env: withRuntime() });
      expect(second.status).toBe(0);
      const png = readFileSync(join(cwd, 'one.png'));
      expect(pngSize(png)).toEqual([512, 512]);
      expect(readFileSync(join(cwd, 'two.png')).equals(png)).toBe(true);
      const text = readPngText(png)['parameters']!;
      expect(text.split('\n')[0]).toBe('a red fox in a misty forest');
      expect(text).toContain('Steps: 8');
      expect(text).toContain('Seed: 1234');
      expect(text).toContain('Sampler: DPM++ 2M');
      expect(text).toContain('Schedule type: dpm++2m');
      // Progress went to stderr as plain lines (not a terminal).
      expect(first.stderr).toContain('loading weights: 100%');
      expect(first.stderr).toContain('step 8/8');
    });
  }

  it('names the file from seed and prompt, refuses to overwrite without --force, prints JSON', () => {
    const cwd = tempDir();
    const args = ['generate', 'A Lighthouse, at Dawn!', ...base(), '--device', 'cpu', '--steps', '2', '--seed', '7', '--json'];
    const r = runCli(args, { cwd, env: withRuntime() });
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout) as { output: string; seed: string; steps: number; scheduler: string; width: number };
    expect(summary.output).toBe(join(cwd, 'sd-7-a-lighthouse-at-dawn.png'));
    expect(summary).toMatchObject({ seed: '7', steps: 2, scheduler: 'pndm', width: 512 });
    expect(r.stderr).not.toContain('step 1/');
    const again = runCli(args, { cwd, env: withRuntime() });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('sd-7-a-lighthouse-at-dawn.png exists; pass --force');
    expect(runCli([...args, '--force'], { cwd, env: withRuntime() }).status).toBe(0);
    expect(readdirSync(cwd)).toEqual(['sd-7-a-lighthouse-at-dawn.png']);
  });

  it('Ctrl-C aborts cleanly: exit 130, no PNG, no temporary file', async () => {
    const cwd = tempDir();
    const child = startCli(['generate', 'interrupted', ...base(), '--device', 'cpu', '--steps', '1000', '--scheduler', 'ddim', '-o', 'never.png'], { cwd, env: withRuntime() });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('step 3/') && !child.killed) child.kill('SIGINT');
    });
    expect(await exited).toBe(130);
    expect(stderr).toContain('aborted');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('doctor exits 0 with a working runtime and a valid model directory', () => {
    const r = runCli(['doctor', ...base()], { env: withRuntime() });
    expect(r.stdout).not.toContain('[FAIL]');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`(ABI: ${runtimeInfo.abi})`);
    expect(r.stdout).toContain(runtimeInfo.abi === 'tvm-ffi' ? '[ ok ] tvm       runtime is TVM >= v0.22 (tvm-ffi ABI, tvm-ffi ' : '[ ok ] tvm       runtime is TVM <= v0.20 (legacy ABI)');
    expect(r.stdout).toContain(
      runtimeInfo.abi === 'tvm-ffi'
        ? '[ ok ] tvm       stable_diffusion_cpu.so was compiled by TVM >= v0.22 (tvm-ffi ABI, __tvm_ffi__library_bin): the runtime matches'
        : '[ ok ] tvm       stable_diffusion_cpu.so was compiled by TVM <= v0.20 (legacy ABI, __tvm_dev_mblob): the runtime matches',
    );
    expect(r.stdout).toContain('[ ok ] device    cpu:0');
    expect(r.stdout).toContain('stable_diffusion_cpu.so has clip, concat_embeddings, unet, vae, image_to_rgba');
    expect(r.stdout).toMatch(/ready to generate/);
  });

  it('doctor --device opencl checks the OpenCL set-up TVM needs, reports the program cache, and exits 0', async ({ skip }) => {
    const why = deviceUnavailable(tvm.loadRuntime({ library: runtimeInfo.path }), 'opencl');
    if (why) skip(why);
    const r = await runCliAsync(['doctor', ...base(), '--device', 'opencl'], { env: withRuntime() });
    // TVM reaches OpenCL through sd-mali's forwarding library, which also keeps the compiled
    // programs; PoCL's device is a CPU, which the suite's environment accepts (SD_MALI_ALLOW_CPU_OPENCL).
    expect(r.stdout).toMatch(
      /\[ ok \] opencl    TVM sees an OpenCL device: opencl:0 is a CPU: '[^']+' \(vendor [^)]*\), a CPU device as asked for \(libOpenCL\.so is sd-mali's forwarding library \(\S*sdmali_opencl\.so\) in front of \S*libOpenCL\.so\.1/,
    );
    expect(r.stdout).toMatch(/\[ ok \] cache     OpenCL programs: \S*opencl-programs: \d+ programs?/);
    expect(r.status).toBe(0);
  });

  it('doctor fails with the remedy when a shard is truncated or the tokenizer is missing', () => {
    const dir = makeModelDir(standin.path, { copyParams: true });
    truncateFile(join(dir, 'params', 'params_shard_0.bin'), 4096);
    const r = runCli(['doctor', '--model', dir, '--tokenizer', tokenizer.path], { env: withRuntime() });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`[FAIL] weights   ${join(dir, 'params', 'params_shard_0.bin')} has 4096 bytes, the index says 953926 (truncated or damaged)`);
    expect(r.stdout).toContain('-> copy params/ from the build again');
    const noTok = runCli(['doctor', '--model', standin.path, '--tokenizer', dir], { env: withRuntime() });
    expect(noTok.status).toBe(1);
    expect(noTok.stdout).toContain('[FAIL] tokenizer');
    expect(noTok.stdout).toContain(`-> fix ${dir}, or remove it to use the bundled SD 1.x tokenizer`);
    const bundled = runCli(['doctor', '--model', standin.path], { env: withRuntime() });
    expect(bundled.stdout).toContain('[ ok ] tokenizer the SD 1.x CLIP tokenizer bundled with sd-mali (the model directory has no tokenizer/), 49408 tokens');
  });

  it('generate without a tokenizer uses the bundled one: the same PNG bytes as with the reference tokenizer folder', async () => {
    const cwd = tempDir();
    const args = ['generate', 'a red fox', '--model', standin.path, '--device', 'cpu', '--steps', '5', '--seed', '1'];
    expect((await runCliAsync([...args, '-o', 'bundled.png'], { cwd, env: withRuntime() })).status).toBe(0);
    expect((await runCliAsync([...args, '--tokenizer', tokenizer.path, '-o', 'given.png'], { cwd, env: withRuntime() })).status).toBe(0);
    expect(readFileSync(join(cwd, 'bundled.png')).equals(readFileSync(join(cwd, 'given.png')))).toBe(true);
  });

  it('generate --warmup --program-cache fills the cache; cache info reports it and cache clear empties it', async ({ skip }) => {
    const why = deviceUnavailable(tvm.loadRuntime({ library: runtimeInfo.path }), 'opencl');
    if (why) skip(why);
    const cwd = tempDir();
    const cache = join(cwd, 'cache');
    const gen = await runCliAsync(['generate', 'a red fox', '--model', standin.path, '--device', 'opencl', '--steps', '1', '--seed', '1', '--warmup', '--program-cache', cache, '-o', 'fox.png'], { cwd, env: withRuntime() });
    expect(gen.status).toBe(0);
    expect(gen.stderr).toContain('loading: warmup');
    const info = JSON.parse(runCli(['cache', 'info', '--program-cache', cache, '--json']).stdout) as { dir: string; entries: number; bytes: number; lastRun: { sourceBuilds: number; binaryHits: number } };
    expect(info.dir).toBe(join(cache, 'opencl-programs'));
    expect(info.entries).toBeGreaterThan(10);
    expect(info.entries).toBe(info.lastRun.sourceBuilds);
    expect(runCli(['cache', 'info', '--program-cache', cache]).stdout).toContain(`${info.entries} programs`);
    const cleared = runCli(['cache', 'clear', '--program-cache', cache]);
    expect(cleared.status).toBe(0);
    expect(cleared.stdout).toContain(`removed ${info.entries} programs`);
    expect((JSON.parse(runCli(['cache', 'info', '--program-cache', cache, '--json']).stdout) as { entries: number }).entries).toBe(0);
  });

  it('doctor and info flag a model compiled by the other TVM generation, with the remedy', ({ skip }) => {
    const other = otherStandin();
    if (!other.available) skip(other.reason);
    const doctor = runCli(['doctor', '--model', other.path, '--tokenizer', tokenizer.path, '--device', 'cpu'], { env: withRuntime() });
    expect(doctor.status).toBe(1);
    const [otherVersion, remedy] =
      runtimeInfo.abi === 'tvm-ffi'
        ? ['TVM <= v0.20 (legacy ABI, __tvm_dev_mblob)', 'point sd-mali at a TVM <= v0.20 runtime']
        : ['TVM >= v0.22 (tvm-ffi ABI, __tvm_ffi__library_bin)', 'point sd-mali at a TVM >= v0.22 runtime'];
    expect(doctor.stdout).toContain(`[FAIL] tvm       stable_diffusion_cpu.so was compiled by ${otherVersion}, but the runtime is`);
    expect(doctor.stdout).toContain(`-> rebuild the model with the TVM version of this runtime, or ${remedy}`);
    const info = runCli(['info', other.path], { env: withRuntime() });
    expect(info.status).toBe(0);
    expect(info.stdout).toContain(`cpu     compiled by ${otherVersion} — MISMATCH: this runtime cannot run it`);
    const json = JSON.parse(runCli(['info', other.path, '--json'], { env: withRuntime() }).stdout) as {
      tvm: { runtime: { abi: string }; executables: Record<string, { abi: string; matchesRuntime: boolean }> };
    };
    expect(json.tvm.runtime.abi).toBe(runtimeInfo.abi);
    expect(json.tvm.executables['cpu']).toMatchObject({ abi: runtimeInfo.abi === 'tvm-ffi' ? 'legacy' : 'tvm-ffi', matchesRuntime: false });
  });

  for (const device of TEST_DEVICES) {
    it(`generate on ${device} reproduces the reference images of TVM's Python runtime within 1 level`, async ({ skip }) => {
      const why = deviceUnavailable(tvm.loadRuntime({ library: runtimeInfo.path }), device);
      if (why) skip(why);
      const cwd = tempDir();
      for (const c of promptCases(standin.path)) {
        const args = ['generate', c.prompt, ...base(), '--device', device, '--steps', String(c.steps), '--scheduler', 'pndm', '--seed', String(c.seed), '-o', `${c.name}.png`];
        if (c.negativePrompt) args.push('--negative', c.negativePrompt);
        const r = await runCliAsync(args, { cwd, env: withRuntime() });
        expect(r.status, r.stderr).toBe(0);
        const { rgba } = decodeRgbaPng(readFileSync(join(cwd, `${c.name}.png`)));
        expect(maxByteDifference(rgba, c.rgba(device)), c.name).toBeLessThanOrEqual(1);
      }
    }, 300_000); // three CLI runs, each compiling the OpenCL kernels anew on PoCL
  }

  it('info lists executables, functions, weights and scheduler constants', () => {
    const r = runCli(['info', standin.path], { env: withRuntime() });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('opencl  stable_diffusion_opencl.so');
    expect(r.stdout).toMatch(/functions: clip, concat_embeddings, dpm_solver_multistep_scheduler_convert_model_output, dpm_solver_multistep_scheduler_step, image_to_rgba, pndm_scheduler_step_0, .*unet, vae/);
    expect(r.stdout).toMatch(/unet\s+8 weights/);
    expect(r.stdout).toContain('formats f32-to-bf16');
    expect(r.stdout).toContain('pndm: scheduler_pndm_consts.json, 51 steps');
    const json = JSON.parse(runCli(['info', standin.path, '--json'], { env: withRuntime() }).stdout) as { weights: { models: Record<string, { count: number }> } };
    expect(json.weights.models['clip']!.count).toBe(6);
    expect(r.stdout).toContain('tokenizer: the SD 1.x CLIP tokenizer bundled with sd-mali');
  });
});
