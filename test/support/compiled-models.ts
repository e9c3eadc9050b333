/**
 * The tiny golden model (../shared/golden-compile/tiny-sd-a) compiled by sd-mali's own
 * compile flow, for the suites that run built directories through the pipeline.
 *
 * vitest's global set-up (support/build-compiled-models.ts) builds the variants once per
 * compiler version into a cache and passes the folder as SD_MALI_TINY_MODELS; a directory
 * is `tiny-sd-a-<target>-<dtype>` there. Without a Python that has the flow, the suites skip
 * with the reason (under CI=true they fail: .ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IN_CI, SHARED_DIR, type Availability } from './shared-data.js';

export const TINY_MODEL_VARIANTS = [
  { target: 'cpu', dtype: 'float32' },
  { target: 'opencl', dtype: 'float32' },
  { target: 'cpu', dtype: 'float16' },
  { target: 'opencl', dtype: 'float16' },
  { target: 'mali', dtype: 'float32' },
] as const;

export type TinyTarget = (typeof TINY_MODEL_VARIANTS)[number]['target'];
export type TinyDtype = (typeof TINY_MODEL_VARIANTS)[number]['dtype'];

export const TINY_MODELS_VARIABLE = 'SD_MALI_TINY_MODELS';
/** Set by the global set-up when the models could not be built: the reason. */
export const TINY_MODELS_MISSING_VARIABLE = 'SD_MALI_TINY_MODELS_MISSING';

export const TINY_SOURCE = join(SHARED_DIR, 'golden-compile', 'tiny-sd-a');

export function tinyModelDirName(target: string, dtype: string): string {
  return `tiny-sd-a-${target}-${dtype}`;
}

/** The built directory of one variant, or why there is none. */
export function tinyModel(target: TinyTarget, dtype: TinyDtype): Availability {
  const root = process.env[TINY_MODELS_VARIABLE];
  const path = root ? join(root, tinyModelDirName(target, dtype)) : '';
  if (root && existsSync(join(path, 'sd-mali.json'))) return { available: true, reason: '', path };
  const reason = process.env[TINY_MODELS_MISSING_VARIABLE] ?? `the compiled tiny model ${tinyModelDirName(target, dtype)} was not built (${TINY_MODELS_VARIABLE} unset)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path };
}
