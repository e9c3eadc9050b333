/**
 * Where the reference data and the TVM runtime live for tests: `../shared` beside the
 * repository (or SD_MALI_TEST_DATA). A user's clone without it skips those tests with the
 * reason; under CI=true missing data fails the run instead.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = resolve(process.env['SD_MALI_TEST_DATA'] ?? join(REPO_ROOT, '..', 'shared'));
export const IN_CI = process.env['CI'] === 'true';

export interface Availability {
  available: boolean;
  /** Why the tests that need it are skipped (empty when available). */
  reason: string;
  path: string;
}

/** Checks that `relative` exists under the shared folder; under CI a miss is an error. */
export function sharedData(relative: string, what: string): Availability {
  const path = join(SHARED_DIR, relative);
  if (existsSync(path)) return { available: true, reason: '', path };
  const reason = `${what} not found at ${path} (set SD_MALI_TEST_DATA to the shared folder)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path };
}

/** The TVM runtime the tests use: SD_MALI_TVM_RUNTIME, else the shared v0.20.0 build. */
export function testRuntime(): Availability {
  const fromEnv = process.env['SD_MALI_TVM_RUNTIME'];
  if (fromEnv) {
    if (existsSync(fromEnv)) return { available: true, reason: '', path: resolve(fromEnv) };
    const reason = `SD_MALI_TVM_RUNTIME=${fromEnv} does not exist`;
    if (IN_CI) throw new Error(reason);
    return { available: false, reason, path: fromEnv };
  }
  return sharedData('tvm/v0.20.0/linux-x64/libtvm_runtime.so', 'the TVM v0.20.0 runtime');
}

/** A describe() title that carries the skip reason into the report. */
export function titled(title: string, availability: Availability): string {
  return availability.available ? title : `${title} [skipped: ${availability.reason}]`;
}
