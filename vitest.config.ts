import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { RUNTIME_ID_VARIABLE, testRuntimeSpecs } from './test/support/runtimes.js';

/** Suites that load a real TVM runtime: they run once per runtime (a project each). */
const RUNTIME_SUITES = ['tvm-runtime', 'tvm-standin-model', 'pipeline', 'cli', 'tvm-fuzz', 'program-cache', 'weight-loader', 'pipeline-async-path', 'tvm-async-copies', 'opencl-cpu-device', 'pipeline-samplers'].map((name) => `test/${name}.test.ts`);
/** Suites that run models built by sd-mali's own compile flow (TVM v0.26): only under a tvm-ffi runtime. */
const COMPILED_SUITES = ['compiled-model'].map((name) => `test/${name}.test.ts`);
const SHARED_DIR = resolve(process.env['SD_MALI_TEST_DATA'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'shared'));

// The OpenCL program cache of every test process (and the CLI they start): a fresh folder
// per run, never the user's ~/.cache/sd-mali. Tests of the cache itself use their own.
const programCacheRoot = mkdtempSync(join(tmpdir(), 'sd-mali-test-cache-'));

export default defineConfig({
  test: {
    setupFiles: ['test/support/yield-between-tests.ts'],
    // Compiles the tiny golden model with sd-mali's compile flow once per flow version (cached).
    globalSetup: ['test/support/build-compiled-models.ts'],
    // The runtime tests share one TVM runtime per process and PoCL is slow to start:
    // keep files in a few forks, not many threads.
    pool: 'forks',
    // --expose-gc lets the leak test collect before it measures.
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--expose-gc'] } },
    // Under CI a JSON report too, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env['CI'] === 'true' ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
    env: { SD_MALI_CACHE_DIR: programCacheRoot },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two TVM runtimes cannot share a process, so each runtime is its own project: the
    // runtime suites run in processes told which one to use (test/support/runtimes.ts).
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...RUNTIME_SUITES, ...COMPILED_SUITES] } },
      ...testRuntimeSpecs(SHARED_DIR).map((spec) => ({
        extends: true,
        test: { name: `tvm-${spec.id}`, include: [...RUNTIME_SUITES, ...(spec.abi === 'tvm-ffi' ? COMPILED_SUITES : [])], env: { [RUNTIME_ID_VARIABLE]: spec.id } },
      })),
    ],
  },
});
