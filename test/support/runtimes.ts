/**
 * The TVM runtimes the runtime-dependent suites run against, one vitest project each (see
 * vitest.config.ts): two TVM runtimes cannot share one process, so each runtime gets its
 * own processes. Both shared builds by default (v0.20 legacy ABI, v0.26 tvm-ffi);
 * SD_MALI_TVM_RUNTIME narrows the list to that one library. Nothing here imports vitest
 * or the addon: the config reads it too.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface TestRuntimeSpec {
  /** Short name, also the vitest project suffix: 'v0.20', 'v0.26', or 'env'. */
  id: string;
  abi: 'legacy' | 'tvm-ffi';
  /** The library's path (may not exist: then the suites skip, or fail under CI). */
  path: string;
  /** Where it came from, for skip reasons. */
  source: string;
  /** The stand-in fixture compiled by that TVM version, under the shared folder. */
  standin: string;
}

/** The environment variable a project sets to pick its runtime by id. */
export const RUNTIME_ID_VARIABLE = 'SD_MALI_TEST_RUNTIME_ID';

const SHARED_RUNTIMES = [
  { id: 'v0.20', abi: 'legacy', relative: 'tvm/v0.20.0/linux-x64/libtvm_runtime.so', standin: 'fixtures/standin-tvm0.20' },
  { id: 'v0.26', abi: 'tvm-ffi', relative: 'tvm/v0.26.0/linux-x64/libtvm_runtime.so', standin: 'fixtures/standin-tvm0.26' },
] as const;

/**
 * The ABI of a runtime library without loading it: a tvm-ffi runtime (TVM >= v0.22) cannot
 * work without libtvm_ffi.so, which TVM builds beside it.
 */
export function abiOfRuntimeFile(path: string): 'legacy' | 'tvm-ffi' {
  return existsSync(join(dirname(path), 'libtvm_ffi.so')) ? 'tvm-ffi' : 'legacy';
}

export function testRuntimeSpecs(sharedDir: string, env: NodeJS.ProcessEnv = process.env): TestRuntimeSpec[] {
  const fromEnv = env['SD_MALI_TVM_RUNTIME'];
  if (fromEnv) {
    const path = resolve(fromEnv);
    const abi = abiOfRuntimeFile(path);
    const standin = SHARED_RUNTIMES.find((r) => r.abi === abi)!.standin;
    return [{ id: 'env', abi, path, source: `SD_MALI_TVM_RUNTIME=${fromEnv}`, standin }];
  }
  return SHARED_RUNTIMES.map((r) => ({
    id: r.id,
    abi: r.abi,
    path: join(sharedDir, r.relative),
    source: `the shared TVM ${r.id} build`,
    standin: r.standin,
  }));
}
