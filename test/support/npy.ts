/** Reads NumPy's .npy files (little-endian float32, int32, uint8), as the golden-compile references are. */
import { readFileSync } from 'node:fs';

export interface Npy {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export function readNpy(path: string): Npy {
  const b = readFileSync(path);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path} is not a .npy file`);
  const major = b[6]!;
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = b.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not read`);
  const bytes = b.buffer.slice(b.byteOffset + start, b.byteOffset + b.byteLength);
  if (descr === '<f4') return { shape, data: new Float32Array(bytes) };
  if (descr === '<i4') return { shape, data: new Int32Array(bytes) };
  if (descr === '|u1') return { shape, data: new Uint8Array(bytes) };
  throw new Error(`${path}: dtype ${descr} is not read`);
}

/** max over i of |a − b| − rel·max(1, |b|): ≤ 0 when every value is within the tolerance. */
export function excess(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number): { worst: number; maxAbs: number } {
  if (actual.length !== expected.length) throw new Error(`lengths differ: ${actual.length} vs ${expected.length}`);
  let worst = -Infinity;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    maxAbs = Math.max(maxAbs, d);
    worst = Math.max(worst, d - rel * Math.max(1, Math.abs(expected[i]!)));
  }
  return { worst, maxAbs };
}

export function readNpyF32(path: string): Float32Array {
  const a = readNpy(path);
  if (!(a.data instanceof Float32Array)) throw new Error(`${path}: not float32`);
  return a.data;
}

export function readNpyU8(path: string): Uint8Array {
  const a = readNpy(path);
  if (!(a.data instanceof Uint8Array)) throw new Error(`${path}: not uint8`);
  return a.data;
}
