import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The OpenCL program cache of every test process (and the CLI they start): a fresh folder
// per run, never the user's ~/.cache/sd-mali. Tests of the cache itself use their own.
const programCacheRoot = mkdtempSync(join(tmpdir(), 'sd-mali-test-cache-'));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
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
  },
});
