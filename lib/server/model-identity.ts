/**
 * What A1111 calls a checkpoint's hash, for a compiled model directory: the sha256 of its
 * weight index (params/ndarray-cache.json or tensor-cache.json, which names every shard
 * with its size and, from TVM's tools, its md5), and the first 10 hex digits as the short
 * hash. The index is a few KB, so this costs nothing at start, unlike hashing gigabytes of
 * shards; a different build of the weights has a different index.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { INDEX_FILE_NAMES } from '../artifacts/weight-index.js';

export interface ModelIdentity {
  /** The directory's name, as A1111's model_name. */
  name: string;
  /** "name [shorthash]", as A1111's title. */
  title: string;
  shortHash: string | null;
  sha256: string | null;
  /** Every name sd_model_checkpoint may use for this model (A1111's checkpoint_aliases). */
  aliases: string[];
}

export async function modelIdentity(modelDir: string): Promise<ModelIdentity> {
  const name = basename(modelDir);
  let sha256: string | null = null;
  for (const file of INDEX_FILE_NAMES) {
    try {
      sha256 = createHash('sha256').update(await readFile(join(modelDir, 'params', file))).digest('hex');
      break;
    } catch {
      // the next name
    }
  }
  const shortHash = sha256 ? sha256.slice(0, 10) : null;
  const title = shortHash ? `${name} [${shortHash}]` : name;
  const aliases = [title, name, modelDir, ...(shortHash && sha256 ? [shortHash, sha256] : [])];
  return { name, title, shortHash, sha256, aliases };
}
