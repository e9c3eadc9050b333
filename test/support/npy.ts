/** Reads NumPy .npy files (format 1.0/2.0, little-endian float32, uint8, int32; C order). */
import { readFileSync } from 'node:fs';

export interface NpyArray {
  shape: number[];
  dtype: '<f4' | '|u1' | '<i4';
  data: Float32Array | Uint8Array | Int32Array;
}

export function readNpy(path: string): NpyArray {
  const bytes = readFileSync(path);
  if (bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not an .npy file`);
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLength;
  const header = bytes.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not supported`);
  const body = bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.byteLength);
  switch (descr) {
    case '<f4':
      return { shape, dtype: descr, data: new Float32Array(body) };
    case '|u1':
      return { shape, dtype: descr, data: new Uint8Array(body) };
    case '<i4':
      return { shape, dtype: descr, data: new Int32Array(body) };
    default:
      throw new Error(`${path}: dtype ${String(descr)} is not supported`);
  }
}

export function readNpyF32(path: string): Float32Array {
  const a = readNpy(path);
  if (!(a.data instanceof Float32Array)) throw new Error(`${path}: ${a.dtype}, not float32`);
  return a.data;
}

export function readNpyU8(path: string): Uint8Array {
  const a = readNpy(path);
  if (!(a.data instanceof Uint8Array)) throw new Error(`${path}: ${a.dtype}, not uint8`);
  return a.data;
}
