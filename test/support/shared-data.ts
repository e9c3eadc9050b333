/**
 * Where the reference data and the TVM runtime live for tests: `../shared` beside the
 * repository (or SD_MALI_TEST_DATA). A user's clone without it skips those tests with the
 * reason; under CI=true missing data fails the run instead.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNTIME_ID_VARIABLE, testRuntimeSpecs, type TestRuntimeSpec } from './runtimes.js';

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

/** The runtime of this test process: its vitest project's (see support/runtimes.ts). */
export function testRuntimeSpec(): TestRuntimeSpec {
  const specs = testRuntimeSpecs(SHARED_DIR);
  const id = process.env[RUNTIME_ID_VARIABLE];
  return specs.find((s) => s.id === id) ?? specs[0]!;
}

/** The TVM runtime the tests use: SD_MALI_TVM_RUNTIME, else this project's shared build. */
export function testRuntime(): Availability & { abi: TestRuntimeSpec['abi']; id: string } {
  const spec = testRuntimeSpec();
  const facts = { abi: spec.abi, id: spec.id };
  if (existsSync(spec.path)) return { available: true, reason: '', path: spec.path, ...facts };
  const reason = `the TVM runtime (${spec.source}) not found at ${spec.path}`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path: spec.path, ...facts };
}

/** The stand-in model compiled by the TVM version of this process's runtime. */
export function testStandin(): Availability {
  const spec = testRuntimeSpec();
  return sharedData(spec.standin, `the stand-in model for TVM ${spec.id}`);
}

/** The stand-in compiled by the TVM of the other ABI (for mismatch tests). */
export function otherStandin(): Availability {
  const spec = testRuntimeSpec();
  return spec.abi === 'legacy'
    ? sharedData('fixtures/standin-tvm0.26', 'the TVM v0.26 stand-in model')
    : sharedData('fixtures/standin-tvm0.20', 'the TVM v0.20 stand-in model');
}

/** A describe() title that carries the skip reason into the report. */
export function titled(title: string, availability: Availability): string {
  return availability.available ? title : `${title} [skipped: ${availability.reason}]`;
}

/** Available when every part is; the reason is the first missing part's. */
export function allOf(...parts: Availability[]): Availability {
  const missing = parts.find((p) => !p.available);
  return { available: missing === undefined, reason: missing?.reason ?? '', path: '' };
}

/** The SD 1.x CLIP tokenizer files (vocab.json, merges.txt). */
export function testTokenizerFiles(): Availability {
  return sharedData('clip-tokenizer', 'the SD 1.x tokenizer files');
}

/**
 * What the suites that run a stand-in model need: this process's runtime, the stand-in
 * (by default the one its TVM compiled) and the tokenizer files; `ready` when all are there.
 */
export function standinSuite(standin: Availability = testStandin()): {
  runtime: ReturnType<typeof testRuntime>;
  standin: Availability;
  tokenizer: Availability;
  ready: Availability;
} {
  const runtime = testRuntime();
  const tokenizer = testTokenizerFiles();
  return { runtime, standin, tokenizer, ready: allOf(runtime, standin, tokenizer) };
}
