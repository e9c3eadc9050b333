// Runtime discovery and ABI detection. Runs in its own process (vitest forks per file)
// before any real runtime is loaded, so every fake library is probed on its own merits.
import { describe, expect, it } from 'vitest';
import { loadRuntime, runtimeCandidates, RuntimeNotFoundError, UnsupportedAbiError } from '../lib/tvm/index.js';
import { buildFakeRuntimes } from './support/c-libraries.js';

describe('runtime discovery', () => {
  it('tries the option alone when given', () => {
    const c = runtimeCandidates('/opt/tvm/build/libtvm_runtime.so', { SD_MALI_TVM_RUNTIME: '/x/lib.so' });
    expect(c).toEqual([{ path: '/opt/tvm/build/libtvm_runtime.so', source: 'tvmRuntime option' }]);
  });

  it('otherwise tries SD_MALI_TVM_RUNTIME, each TVM_LIBRARY_PATH directory, then the system search', () => {
    const c = runtimeCandidates(undefined, { SD_MALI_TVM_RUNTIME: '/a/libtvm_runtime.so', TVM_LIBRARY_PATH: '/b:/c' });
    expect(c.map((x) => x.path)).toEqual([
      '/a/libtvm_runtime.so',
      '/b/libtvm_runtime.so',
      '/c/libtvm_runtime.so',
      'libtvm_runtime.so',
    ]);
    expect(c.map((x) => x.source)).toEqual([
      'SD_MALI_TVM_RUNTIME',
      'TVM_LIBRARY_PATH',
      'TVM_LIBRARY_PATH',
      expect.stringContaining('system'),
    ]);
  });

  it('names every path tried and the variable to set when nothing opens', () => {
    const saved = { ...process.env };
    process.env['SD_MALI_TVM_RUNTIME'] = '/nonexistent/one/libtvm_runtime.so';
    process.env['TVM_LIBRARY_PATH'] = '/nonexistent/two';
    process.env['LD_LIBRARY_PATH'] = '';
    try {
      let caught: unknown;
      try {
        loadRuntime();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RuntimeNotFoundError);
      const err = caught as RuntimeNotFoundError;
      expect(err.code).toBe('RUNTIME_NOT_FOUND');
      expect(err.attempts.map((a) => a.path)).toEqual([
        '/nonexistent/one/libtvm_runtime.so',
        '/nonexistent/two/libtvm_runtime.so',
        'libtvm_runtime.so',
      ]);
      expect(err.message).toContain('/nonexistent/one/libtvm_runtime.so');
      expect(err.message).toContain('/nonexistent/two/libtvm_runtime.so');
      expect(err.message).toContain('SD_MALI_TVM_RUNTIME=');
      expect(err.attempts[0]?.reason).toMatch(/No such file/);
    } finally {
      process.env = saved;
    }
  });
});

describe('ABI detection', () => {
  const fakes = buildFakeRuntimes();

  const refusal = (path: string): UnsupportedAbiError => {
    try {
      loadRuntime({ library: path });
    } catch (err) {
      if (err instanceof UnsupportedAbiError) return err;
      throw err;
    }
    throw new Error('loadRuntime accepted a library it should refuse');
  };

  it('takes a library whose libtvm_ffi exports TVMFFIFunctionCall for tvm-ffi, and refuses an incomplete one by name', () => {
    const err = refusal(fakes.tvmFfi);
    expect(err.abi).toBe('tvm-ffi');
    expect(err.message).toMatch(/lacks TVMFFIFunctionGetGlobal of the tvm-ffi C API/);
    expect(err.libraryPath).toBe(fakes.tvmFfi);
  });

  it('refuses the transitional v0.21 ABI', () => {
    const err = refusal(fakes.v021);
    expect(err.abi).toBe('v0.21-transitional');
    expect(err.message).toMatch(/v0.21/);
  });

  it('refuses a library that is not a TVM runtime', () => {
    const err = refusal(fakes.notTvm);
    expect(err.abi).toBe('unknown');
    expect(err.message).toMatch(/not a TVM runtime/);
  });
});
