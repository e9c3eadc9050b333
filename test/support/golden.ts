/** Readers for ../shared/golden (Hugging Face, diffusers and torch reference outputs). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedData, type Availability } from './shared-data.js';

export function golden(relative: string, what: string): Availability {
  return sharedData(join('golden', relative), what);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
