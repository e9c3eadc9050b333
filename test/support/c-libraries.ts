/** Builds the tests' small C libraries (test/fixtures/*.c) with the system compiler. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './shared-data.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
const CC = process.env['CC'] ?? 'cc';

function compile(source: string, output: string, extra: string[] = []): string {
  execFileSync(CC, ['-shared', '-fPIC', '-O2', '-Wall', '-o', output, join(FIXTURES, source), ...extra], {
    stdio: 'pipe',
  });
  return output;
}

/** Which calling convention a test library is built for: the runtime's ABI. */
export type FixtureAbi = 'legacy' | 'tvm-ffi';

/**
 * The packed-function test module: add_f32, scale, raise_error, greet, sleep_ms (+ sleep_calls
 * for the legacy ABI, long_text for tvm-ffi).
 */
export function buildPackedFuncsLibrary(abi: FixtureAbi = 'legacy'): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-cmod-'));
  return compile(abi === 'tvm-ffi' ? 'ffi_packed_funcs.c' : 'packed_funcs.c', join(dir, 'libpacked_funcs.so'));
}

/** Fake runtimes: tvm-ffi (a runtime linked to a separate libtvm_ffi), v0.21, and not TVM. */
export function buildFakeRuntimes(): { tvmFfi: string; v021: string; notTvm: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-fake-'));
  const ffiDir = join(dir, 'ffi');
  const v021Dir = join(dir, 'v021');
  mkdirSync(ffiDir);
  mkdirSync(v021Dir);
  compile('fake_abi.c', join(ffiDir, 'libtvm_ffi.so'), ['-DFAKE_FFI_CORE']);
  const tvmFfi = compile('fake_abi.c', join(ffiDir, 'libtvm_runtime.so'), [
    '-Wl,--no-as-needed',
    `-L${ffiDir}`,
    '-ltvm_ffi',
    `-Wl,-rpath,${ffiDir}`,
  ]);
  const v021 = compile('fake_abi.c', join(v021Dir, 'libtvm_runtime.so'), ['-DFAKE_V021']);
  const notTvm = compile('fake_abi.c', join(dir, 'libnot_tvm.so'));
  return { tvmFfi, v021, notTvm };
}

/** An executable-shaped library without `unet` (see fixtures/fake_vm.c), written as `output`. */
export function buildFakeExecutable(output: string, abi: FixtureAbi = 'legacy'): string {
  return compile(abi === 'tvm-ffi' ? 'ffi_fake_vm.c' : 'fake_vm.c', output);
}

/** An executable whose unet leaves guidance to the host (see fixtures/fake_cfg_model.c). */
export function buildUnguidedExecutable(output: string, abi: FixtureAbi = 'legacy'): string {
  return compile(abi === 'tvm-ffi' ? 'ffi_fake_cfg_model.c' : 'fake_cfg_model.c', output);
}

/** Entry functions that break the artifact contract in one way each (see fake_cfg_model.c). */
export const BROKEN_OUTPUTS = ['UNET_NONE', 'RGBA_3D', 'VAE_DTYPE', 'CLIP_SHAPE'] as const;
export type BrokenOutput = (typeof BROKEN_OUTPUTS)[number];

/** The unguided executable with one entry function returning what it must not. */
export function buildBrokenExecutable(output: string, broken: BrokenOutput): string {
  return compile('fake_cfg_model.c', output, [`-DBROKEN_${broken}`]);
}
