// Which TVM compiled a model executable, read from its dynamic symbols without loading it.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertExecutableMatchesRuntime, executableAbi, readDynamicSymbols } from '../lib/artifacts/index.js';
import { AbiMismatchError, ArtifactError } from '../lib/errors.js';
import { buildFakeExecutable } from './support/c-libraries.js';
import { allOf, sharedData, titled } from './support/shared-data.js';

const v020 = sharedData('fixtures/standin-tvm0.20', 'the TVM v0.20 stand-in model');
const v026 = sharedData('fixtures/standin-tvm0.26', 'the TVM v0.26 stand-in model');
const both = allOf(v020, v026);

describe.skipIf(!both.available)(titled('executable ABI of the stand-in builds', both), () => {
  for (const kind of ['cpu', 'opencl']) {
    it(`tells a TVM v0.20 ${kind} build from a v0.26 one`, () => {
      expect(executableAbi(join(v020.path, `stable_diffusion_${kind}.so`))).toBe('legacy');
      expect(executableAbi(join(v026.path, `stable_diffusion_${kind}.so`))).toBe('tvm-ffi');
      const legacySymbols = readDynamicSymbols(join(v020.path, `stable_diffusion_${kind}.so`))!;
      expect(legacySymbols.has('__tvm_dev_mblob')).toBe(true);
      expect(legacySymbols.has('__tvm_ffi__library_bin')).toBe(false);
    });
  }

  it('refuses each build on the other runtime, naming both TVM versions and the remedy', () => {
    const old = join(v020.path, 'stable_diffusion_cpu.so');
    let caught: unknown;
    try {
      assertExecutableMatchesRuntime(old, 'tvm-ffi', '/opt/tvm/libtvm_runtime.so');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AbiMismatchError);
    expect(caught).toBeInstanceOf(ArtifactError);
    const err = caught as AbiMismatchError;
    expect(err.executableAbi).toBe('legacy');
    expect(err.runtimeAbi).toBe('tvm-ffi');
    expect(err.message).toContain('was compiled by TVM <= v0.20 (legacy ABI, __tvm_dev_mblob)');
    expect(err.message).toContain('the runtime /opt/tvm/libtvm_runtime.so is TVM >= v0.22 (tvm-ffi ABI)');
    expect(err.message).toContain('point sd-mali at a TVM <= v0.20 runtime');
    const fresh = join(v026.path, 'stable_diffusion_opencl.so');
    expect(() => assertExecutableMatchesRuntime(fresh, 'legacy', '/x/libtvm_runtime.so')).toThrow(
      /compiled by TVM >= v0\.22 \(tvm-ffi ABI, __tvm_ffi__library_bin\), but the runtime \/x\/libtvm_runtime\.so is TVM <= v0\.20/,
    );
    expect(() => assertExecutableMatchesRuntime(old, 'legacy', '/x')).not.toThrow();
    expect(() => assertExecutableMatchesRuntime(fresh, 'tvm-ffi', '/x')).not.toThrow();
  });
});

describe('executable ABI of other files', () => {
  it('is unknown for a library without either module blob, and for files that are not ELF', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-mali-abi-'));
    expect(executableAbi(buildFakeExecutable(join(dir, 'fake.so')))).toBe('unknown');
    expect(readDynamicSymbols(join(dir, 'fake.so'))?.has('vm_load_executable')).toBe(true);
    writeFileSync(join(dir, 'text.so'), 'not an ELF file at all, just text');
    expect(executableAbi(join(dir, 'text.so'))).toBe('unknown');
    writeFileSync(join(dir, 'short.so'), '\x7fELF');
    expect(executableAbi(join(dir, 'short.so'))).toBe('unknown');
    expect(executableAbi(join(dir, 'absent.so'))).toBe('unknown');
    expect(() => assertExecutableMatchesRuntime(join(dir, 'fake.so'), 'tvm-ffi', '/x')).not.toThrow();
  });
});
