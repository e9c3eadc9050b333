/** Reads `sd-mali.json` beside a model with everything the writer put there: undefined for directories of older builds, an Error when the pipeline would refuse it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactError } from '../errors.js';
import { parseManifest } from '../pipeline/manifest.js';
import { MANIFEST_FILE, type ModelManifest } from './manifest.js';

export function readManifest(dir: string): ModelManifest | ArtifactError | undefined {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return new ArtifactError(file, `cannot be read: ${(err as Error).message}`);
  }
  // One set of checks: the pipeline's, which loads what it accepts.
  try {
    parseManifest(file, text);
  } catch (err) {
    if (err instanceof ArtifactError) return err;
    throw err;
  }
  return JSON.parse(text) as ModelManifest;
}
