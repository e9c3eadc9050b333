/**
 * Model directories of tiny-sd-a built by sd-mali's compile flow (issue 18), one per target
 * and precision: $SD_MALI_TINY_MODELS/tiny-sd-a-<cpu|opencl>-<float32|float16>/ (default
 * /work/helpers/models), each complete once its READY file exists. Missing -> a skip with
 * the reason; under CI=true a failure. (CI will build them here instead of finding them.)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IN_CI, type Availability } from './shared-data.js';

export const TINY_MODELS_DIR = resolve(process.env['SD_MALI_TINY_MODELS'] ?? '/work/helpers/models');

export type TinyTarget = 'cpu' | 'opencl';
export type TinyPrecision = 'float32' | 'float16';

export function tinyModel(target: TinyTarget, precision: TinyPrecision = 'float32', name = 'tiny-sd-a'): Availability {
  const path = join(TINY_MODELS_DIR, `${name}-${target}-${precision}`);
  if (existsSync(join(path, 'READY'))) return { available: true, reason: '', path };
  const reason = `the ${name} model built for ${target} in ${precision} is not at ${path} (no READY file; set SD_MALI_TINY_MODELS to the built models' folder)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path };
}
