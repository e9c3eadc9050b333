/**
 * A model weight directory with SD 1.5's real layout (../shared/realscale/sd15-weight-layout.json:
 * 1,022 records over 64 shards, 1.97 GiB of bfloat16) and random finite values, made once
 * in the OS temp dir and reused by later bench runs. The index is written last, so an
 * interrupted write is noticed and redone.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface LayoutRecord {
  name: string;
  shape: number[];
  dtype: string;
  format: string;
}
interface Layout {
  metadata: Record<string, number>;
  shards: LayoutRecord[][];
}

export interface WeightDir {
  paramsDir: string;
  storedBytes: number;
  /** Bytes of the NDArrays the weights become (float32). */
  deviceBytes: number;
  shards: number;
  records: number;
  /** Whether this run wrote it (false: reused). */
  written: boolean;
}

const DIR_NAME = 'sd-mali-bench-sd15-weights-v1';

function planShards(layout: Layout): { index: unknown; sizes: number[]; deviceBytes: number; records: number } {
  let deviceBytes = 0;
  let records = 0;
  const sizes: number[] = [];
  const shards = layout.shards.map((recs, k) => {
    let offset = 0;
    const out = recs.map((r) => {
      const elements = r.shape.reduce((a, b) => a * b, 1);
      const rec = { name: r.name, shape: r.shape, dtype: r.dtype, format: r.format, nbytes: 2 * elements, byteOffset: offset };
      offset += rec.nbytes;
      deviceBytes += 4 * elements;
      records++;
      return rec;
    });
    sizes.push(offset);
    return { dataPath: `params_shard_${k}.bin`, format: 'raw-shard', nbytes: offset, records: out };
  });
  return { index: { metadata: layout.metadata, records: shards }, sizes, deviceBytes, records };
}

/** Random bfloat16 with exponents of 2^-16 .. 2^1 and either sign: finite, weight-like. */
function fillRandomBf16(buf: Buffer): void {
  randomFillSync(buf);
  const u16 = new Uint16Array(buf.buffer, buf.byteOffset, buf.byteLength >> 1);
  for (let i = 0; i < u16.length; i++) {
    const v = u16[i]!;
    // keep sign and mantissa, exponent field 0x6f..0x80 (bits 7..14)
    u16[i] = (v & 0x807f) | ((0x6f + ((v >> 7) & 0x0f) + ((v >> 11) & 0x3)) << 7);
  }
}

/** The directory, or a reason it cannot be made here. */
export function sd15WeightDir(layoutFile: string, log: (line: string) => void): WeightDir | string {
  if (!existsSync(layoutFile)) return `no layout file at ${layoutFile} (../shared is missing; set SD_MALI_TEST_DATA)`;
  const layout = JSON.parse(readFileSync(layoutFile, 'utf8')) as Layout;
  const plan = planShards(layout);
  const root = join(tmpdir(), DIR_NAME);
  const paramsDir = join(root, 'params');
  const indexFile = join(paramsDir, 'ndarray-cache.json');
  const stored = plan.sizes.reduce((a, b) => a + b, 0);
  const info = { paramsDir, storedBytes: stored, deviceBytes: plan.deviceBytes, shards: plan.sizes.length, records: plan.records };
  const complete =
    existsSync(indexFile) && plan.sizes.every((n, k) => existsSync(join(paramsDir, `params_shard_${k}.bin`)) && statSync(join(paramsDir, `params_shard_${k}.bin`)).size === n);
  if (complete) return { ...info, written: false };
  mkdirSync(paramsDir, { recursive: true });
  const fs = statfsSync(paramsDir);
  const free = fs.bavail * fs.bsize;
  if (free < stored + (1 << 30)) return `only ${(free / 2 ** 30).toFixed(1)} GiB free in ${tmpdir()}, the directory needs ${(stored / 2 ** 30).toFixed(2)} GiB + 1 GiB spare`;
  log(`writing ${(stored / 2 ** 30).toFixed(2)} GiB of random bf16 weights (SD 1.5 layout) to ${paramsDir} (once)`);
  const buf = Buffer.allocUnsafe(Math.max(...plan.sizes));
  plan.sizes.forEach((n, k) => {
    const shard = buf.subarray(0, n);
    fillRandomBf16(shard);
    const fd = openSync(join(paramsDir, `params_shard_${k}.bin`), 'w');
    try {
      for (let off = 0; off < n; ) off += writeSync(fd, shard, off, n - off);
    } finally {
      closeSync(fd);
    }
  });
  writeFileSync(indexFile, JSON.stringify(plan.index));
  return { ...info, written: true };
}
