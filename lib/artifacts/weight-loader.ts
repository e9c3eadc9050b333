/**
 * Loads the weights of a model directory onto a device, shard by shard. The bytes never
 * reach JavaScript: for each shard the addon's worker thread reads the file, expands
 * bfloat16 records to float32 and makes the NDArrays (native/src/weight_loader.cc), while
 * the kernel reads the next shard into the page cache. This thread only schedules, checks
 * the AbortSignal and reports progress, so the event loop stays free during a load.
 * On any failure (damaged shard, abort, device error) every array made so far is freed
 * before the error propagates.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { AbortError, ArtifactError, TvmError, throwIfAborted } from '../errors.js';
import type { Device } from '../tvm/device-handle.js';
import type { NativeShardRecord, NativeShardResult } from '../tvm/native.js';
import { NDArray } from '../tvm/ndarray.js';
import type { TvmRuntime } from '../tvm/runtime.js';
import type { WeightIndex, WeightShard } from './weight-index.js';

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

/**
 * bfloat16 bits to float32 values: the upper half of each float32. The reference the
 * native expansion is tested against; the loader itself expands natively.
 */
export function expandBf16(bytes: Uint8Array): Float32Array {
  const count = bytes.byteLength / 2;
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return new Float32Array(out.buffer);
}

async function verifyShard(path: string, md5sum: string): Promise<void> {
  const hash = createHash('md5');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    throw new ArtifactError(path, `weight shard cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  const md5 = hash.digest('hex');
  if (md5 !== md5sum) throw new ArtifactError(path, `md5 ${md5} differs from the index's ${md5sum}: the shard is damaged`);
}

function errnoName(errno: number): string | undefined {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return undefined;
}

function nativeRecords(shard: WeightShard): NativeShardRecord[] {
  return shard.records.map((r) => ({ shape: r.shape, dtype: r.dtype, bf16: r.format === 'f32-to-bf16', byteOffset: r.byteOffset, nbytes: r.nbytes }));
}

/** Turns a failed shard into the error this module has always thrown for it. */
function shardError(path: string, result: Extract<NativeShardResult, { failure: string }>, signal: AbortSignal | undefined): Error {
  switch (result.failure) {
    case 'aborted':
      return new AbortError(signal?.reason instanceof Error ? signal.reason.message : 'The operation was aborted', { cause: signal?.reason });
    case 'tvm':
      return new TvmError(result.message);
    case 'file': {
      // The native message carries strerror's words; name the errno like Node does.
      const name = result.errno === undefined ? undefined : errnoName(result.errno);
      const message = name ? result.message.replace(/\(([^()]*)\)$/, `(${name})`) : result.message;
      return new ArtifactError(path, message);
    }
  }
}

export async function loadWeights(
  runtime: TvmRuntime,
  device: Device,
  index: WeightIndex,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const { signal } = options;
  const byName = new Map<string, NDArray>();
  // Read by the worker between records; set at once when the signal fires.
  const cancel = new Int32Array(1);
  const onAbort = (): void => void Atomics.store(cancel, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  let loaded = 0;
  try {
    throwIfAborted(signal);
    for (const [k, shard] of index.shards.entries()) {
      const path = join(index.dir, shard.dataPath);
      if (options.verifyChecksums && shard.md5sum) await verifyShard(path, shard.md5sum);
      // An abort since the last shard is seen by the native call before its first record:
      // it fails with 'aborted' and frees its staging buffer on the way.
      const next = index.shards[k + 1];
      const result = await runtime.native.loadWeightShard(
        path,
        shard.nbytes,
        nativeRecords(shard),
        device.deviceType,
        device.deviceId,
        cancel,
        next ? join(index.dir, next.dataPath) : null,
      );
      if (result.failure !== undefined) throw shardError(path, result, signal);
      result.arrays.forEach((arr, i) => byName.set(shard.records[i]!.name, new NDArray(arr, device)));
      loaded += shard.nbytes;
      options.onProgress?.({ loadedBytes: loaded, totalBytes: index.totalBytes, shard: shard.dataPath });
    }
    throwIfAborted(signal);
  } catch (err) {
    for (const arr of byName.values()) arr.dispose();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
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
