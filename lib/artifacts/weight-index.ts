/**
 * The weight index of a model directory: params/ndarray-cache.json (TVM <= v0.21) or
 * params/tensor-cache.json (newer TVM). Parsed and checked as a whole before any byte is
 * loaded, so a damaged file is reported by name instead of producing garbage. Its formats
 * are described in docs/artifact-contract.md ("The weight index (`tensor-cache.json`)").
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArtifactError } from '../errors.js';
import { bytesPerElement, isDType, type DType } from '../tvm/dtype.js';

export type RecordFormat = 'raw' | 'f32-to-bf16';

export interface WeightRecord {
  name: string;
  shape: number[];
  /** The dtype of the NDArray the weight becomes. */
  dtype: DType;
  /** raw: the bytes are `dtype`; f32-to-bf16: bfloat16 bytes to expand to float32. */
  format: RecordFormat;
  nbytes: number;
  byteOffset: number;
}

export interface WeightShard {
  dataPath: string;
  nbytes: number;
  md5sum?: string;
  records: WeightRecord[];
}

export interface WeightIndex {
  /** The index file that was read. */
  file: string;
  /** Its directory, where the shards are. */
  dir: string;
  /** Weights per model, from metadata `<model>ParamSize` (e.g. { clip: 196, unet: 686, vae: 140 }). */
  paramCounts: Record<string, number>;
  shards: WeightShard[];
  /** Bytes in all shards. */
  totalBytes: number;
}

export const INDEX_FILE_NAMES = ['ndarray-cache.json', 'tensor-cache.json'] as const;

/** The index file in `paramsDir`, or undefined when neither name is there. */
export function findIndexFile(paramsDir: string): string | undefined {
  for (const name of INDEX_FILE_NAMES) {
    const file = join(paramsDir, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

function fail(file: string, message: string): never {
  throw new ArtifactError(file, message);
}

function isRecordObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function nonNegativeInt(file: string, where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(file, `${where} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function parseRecord(file: string, shardIndex: number, raw: unknown, shardBytes: number): WeightRecord {
  const where = `shard ${shardIndex} record`;
  if (!isRecordObject(raw)) fail(file, `${where} is not an object`);
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') fail(file, `${where} has no name`);
  const at = `record '${name}'`;
  const shape = raw['shape'];
  if (!Array.isArray(shape)) fail(file, `${at}: shape must be an array`);
  const dims = shape.map((d, i) => nonNegativeInt(file, `${at}: shape[${i}]`, d));
  const dtype = raw['dtype'];
  if (typeof dtype !== 'string' || !isDType(dtype)) fail(file, `${at}: unsupported dtype ${JSON.stringify(dtype)}`);
  const format = raw['format'] ?? 'raw';
  if (format !== 'raw' && format !== 'f32-to-bf16') fail(file, `${at}: unknown format ${JSON.stringify(format)}`);
  if (format === 'f32-to-bf16' && dtype !== 'float32') fail(file, `${at}: f32-to-bf16 needs dtype float32, got ${dtype}`);
  const nbytes = nonNegativeInt(file, `${at}: nbytes`, raw['nbytes']);
  const byteOffset = nonNegativeInt(file, `${at}: byteOffset`, raw['byteOffset']);
  const elements = dims.reduce((a, b) => a * b, 1);
  const expected = elements * (format === 'f32-to-bf16' ? 2 : bytesPerElement(dtype));
  if (nbytes !== expected) fail(file, `${at}: nbytes ${nbytes} does not match shape [${dims.join(',')}] as ${format} ${dtype} (${expected} bytes)`);
  if (byteOffset + nbytes > shardBytes) {
    fail(file, `${at}: bytes ${byteOffset}..${byteOffset + nbytes} lie beyond the end of its shard (${shardBytes} bytes)`);
  }
  return { name, shape: dims, dtype, format, nbytes, byteOffset };
}

/**
 * Two records sharing bytes of a shard mean a damaged or hand-edited index: each would load
 * the other's data as its own and the model would run on garbage without any error.
 */
function checkNoOverlap(file: string, shardIndex: number, shard: WeightShard): void {
  const byOffset = shard.records.filter((r) => r.nbytes > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let k = 1; k < byOffset.length; k++) {
    const prev = byOffset[k - 1]!;
    const cur = byOffset[k]!;
    if (cur.byteOffset < prev.byteOffset + prev.nbytes) {
      fail(
        file,
        `records '${prev.name}' (bytes ${prev.byteOffset}..${prev.byteOffset + prev.nbytes}) and '${cur.name}' ` +
          `(bytes ${cur.byteOffset}..${cur.byteOffset + cur.nbytes}) overlap in shard ${shardIndex} (${shard.dataPath})`,
      );
    }
  }
}

export function parseWeightIndex(file: string, text: string): WeightIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ArtifactError(file, `is not valid JSON (${(err as Error).message}); the file is damaged or truncated`, { cause: err });
  }
  if (!isRecordObject(json)) fail(file, 'is not a JSON object');
  const metadata = json['metadata'];
  if (!isRecordObject(metadata)) fail(file, 'has no "metadata" object');
  const paramCounts: Record<string, number> = {};
  for (const [key, value] of Object.entries(metadata)) {
    const m = /^(.+)ParamSize$/.exec(key);
    if (m?.[1]) paramCounts[m[1]] = nonNegativeInt(file, `metadata.${key}`, value);
  }
  const records = json['records'];
  if (!Array.isArray(records)) fail(file, 'has no "records" array');
  const shards: WeightShard[] = records.map((s, i) => {
    if (!isRecordObject(s)) fail(file, `shard ${i} is not an object`);
    const dataPath = s['dataPath'];
    if (typeof dataPath !== 'string' || dataPath === '' || dataPath.includes('..')) fail(file, `shard ${i}: bad dataPath ${JSON.stringify(dataPath)}`);
    const nbytes = nonNegativeInt(file, `shard ${i}: nbytes`, s['nbytes']);
    const recs = s['records'];
    if (!Array.isArray(recs)) fail(file, `shard ${i}: no records array`);
    const md5 = s['md5sum'];
    const shard: WeightShard = { dataPath, nbytes, records: recs.map((r) => parseRecord(file, i, r, nbytes)) };
    if (typeof md5 === 'string') shard.md5sum = md5;
    return shard;
  });
  const names = new Set<string>();
  for (const shard of shards) {
    for (const r of shard.records) {
      if (names.has(r.name)) fail(file, `record '${r.name}' appears twice`);
      names.add(r.name);
    }
  }
  shards.forEach((shard, i) => checkNoOverlap(file, i, shard));
  for (const [model, count] of Object.entries(paramCounts)) {
    for (let i = 0; i < count; i++) {
      if (!names.has(`${model}_${i}`)) fail(file, `metadata says ${model} has ${count} weights, but record '${model}_${i}' is missing`);
    }
  }
  const dir = dirname(file);
  return { file, dir, paramCounts, shards, totalBytes: shards.reduce((a, s) => a + s.nbytes, 0) };
}

/** Reads the index in `paramsDir` (ndarray-cache.json, else tensor-cache.json). */
export async function readWeightIndex(paramsDir: string): Promise<WeightIndex> {
  const file = findIndexFile(paramsDir);
  if (!file) {
    throw new ArtifactError(join(paramsDir, INDEX_FILE_NAMES[0]), `is missing (looked for ${INDEX_FILE_NAMES.join(' and ')}); is this a model directory written by the TVM build?`);
  }
  return readWeightIndexFile(file);
}

export async function readWeightIndexFile(file: string): Promise<WeightIndex> {
  return parseWeightIndex(file, await readFile(file, 'utf8'));
}
