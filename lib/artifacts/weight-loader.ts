/**
 * Loads the weights of a model directory onto a device, shard by shard: each shard is
 * read, checked, decoded and copied, then dropped, so peak host memory stays near one
 * shard. On any failure (damaged shard, abort, device error) every array made so far is
 * freed before the error propagates.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ArtifactError, throwIfAborted } from '../errors.js';
import type { Device } from '../tvm/device-handle.js';
import type { NDArray } from '../tvm/ndarray.js';
import type { TvmRuntime } from '../tvm/runtime.js';
import type { WeightIndex, WeightRecord } from './weight-index.js';

export interface WeightLoadProgress {
  loadedBytes: number;
  totalBytes: number;
  /** The shard just finished. */
  shard: string;
}

export interface LoadWeightsOptions {
  onProgress?: (p: WeightLoadProgress) => void;
  signal?: AbortSignal;
  /** Check each shard's md5sum where the index has one (reads every byte twice). */
  verifyChecksums?: boolean;
}

/** Weights by model name, in parameter order (clip_0 ... clip_N-1). */
export type ModelWeights = Map<string, NDArray[]>;

/** bfloat16 bits to float32 values: the upper half of each float32. */
export function expandBf16(bytes: Uint8Array): Float32Array {
  const count = bytes.byteLength / 2;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return new Float32Array(out.buffer);
}

function recordPayload(record: WeightRecord, shard: Uint8Array): ArrayBufferView {
  const bytes = shard.subarray(record.byteOffset, record.byteOffset + record.nbytes);
  if (record.format === 'f32-to-bf16') return expandBf16(bytes);
  return bytes; // raw: copied byte for byte
}

async function readShard(path: string, expectedBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new ArtifactError(path, `weight shard cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    if (size !== expectedBytes) {
      throw new ArtifactError(path, `weight shard has ${size} bytes, the index says ${expectedBytes}: the file is truncated or damaged`);
    }
    const buffer = Buffer.allocUnsafe(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(buffer, offset, size - offset, offset);
      if (bytesRead === 0) throw new ArtifactError(path, `weight shard ended after ${offset} of ${size} bytes`);
      offset += bytesRead;
    }
    return buffer;
  } finally {
    await handle.close();
  }
}

export async function loadWeights(
  runtime: TvmRuntime,
  device: Device,
  index: WeightIndex,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const byName = new Map<string, NDArray>();
  const disposeAll = (): void => {
    for (const arr of byName.values()) arr.dispose();
  };
  let loaded = 0;
  try {
    for (const shard of index.shards) {
      throwIfAborted(options.signal);
      const path = join(index.dir, shard.dataPath);
      const bytes = await readShard(path, shard.nbytes);
      throwIfAborted(options.signal);
      if (options.verifyChecksums && shard.md5sum) {
        const md5 = createHash('md5').update(bytes).digest('hex');
        if (md5 !== shard.md5sum) throw new ArtifactError(path, `md5 ${md5} differs from the index's ${shard.md5sum}: the shard is damaged`);
      }
      for (const record of shard.records) {
        // Asynchronous: the event loop must not wait behind another pipeline's model call.
        byName.set(record.name, await runtime.ndarrayAsync(recordPayload(record, bytes), record.shape, record.dtype, device));
      }
      loaded += shard.nbytes;
      options.onProgress?.({ loadedBytes: loaded, totalBytes: index.totalBytes, shard: shard.dataPath });
    }
    throwIfAborted(options.signal);
  } catch (err) {
    disposeAll();
    throw err;
  }
  const weights: ModelWeights = new Map();
  for (const [model, count] of Object.entries(index.paramCounts)) {
    const list: NDArray[] = [];
    for (let i = 0; i < count; i++) list.push(byName.get(`${model}_${i}`)!);
    weights.set(model, list);
  }
  // Records outside any model's parameter list are not used by the executable.
  const used = new Set([...weights.values()].flat());
  for (const arr of byName.values()) if (!used.has(arr)) arr.dispose();
  return weights;
}
