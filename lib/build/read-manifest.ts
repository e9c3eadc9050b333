/** Reads `sd-mali.json` beside a model: undefined for directories of older builds, an Error when it is damaged or too new. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactError } from '../errors.js';
import { MANIFEST_FILE, MANIFEST_FORMAT_VERSION, type ModelManifest } from './manifest.js';

export function readManifest(dir: string): ModelManifest | ArtifactError | undefined {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return new ArtifactError(file, `cannot be read: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return new ArtifactError(file, `is not JSON: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || typeof (data as { formatVersion?: unknown }).formatVersion !== 'number') {
    return new ArtifactError(file, 'has no formatVersion: not an sd-mali manifest');
  }
  const m = data as ModelManifest;
  if (m.formatVersion > MANIFEST_FORMAT_VERSION) {
    return new ArtifactError(file, `is format ${m.formatVersion}; this sd-mali reads format ${MANIFEST_FORMAT_VERSION}: update sd-mali`);
  }
  if (typeof m.functions !== 'object' || typeof m.image?.width !== 'number' || typeof m.executable !== 'string') {
    return new ArtifactError(file, 'lacks functions, image or executable');
  }
  return m;
}
