/**
 * What each entry function of the executable must return (docs/artifact-contract.md), checked
 * as soon as it returns: a model compiled otherwise fails here with an ArtifactError naming the
 * function and what came back, instead of a bare TypeError or a wrong image later.
 */
import { ArtifactError } from '../errors.js';
import { NDArray, type TvmValue } from '../tvm/index.js';

/** One dimension: an exact size, or a named free size that must be positive. */
type Dim = number | string;

export interface ResultSpec {
  dtype: string;
  shape: readonly Dim[];
}

export const ENTRY_RESULTS = {
  clip: { dtype: 'float32', shape: [1, 77, 'hidden'] },
  concat_embeddings: { dtype: 'float32', shape: [2, 77, 'hidden'] },
  unet: { dtype: 'float32', shape: ['batch', 4, 64, 64] },
  vae: { dtype: 'float32', shape: [1, 'height', 'width', 3] },
  image_to_rgba: { dtype: 'uint32', shape: ['height', 'width'] },
} as const satisfies Record<string, ResultSpec>;

export type EntryFunction = keyof typeof ENTRY_RESULTS;

function describeValue(value: TvmValue): string {
  if (value instanceof NDArray) return `an NDArray ${value.dtype}[${value.shape.join(',')}]`;
  if (value === null) return 'None';
  if (typeof value === 'object') return `a ${value.constructor.name}`;
  return `a ${typeof value} (${String(value)})`;
}

function formatSpec(spec: ResultSpec): string {
  return `an NDArray ${spec.dtype}[${spec.shape.join(',')}]`;
}

function matches(array: NDArray, spec: ResultSpec): boolean {
  if (array.dtype !== spec.dtype || array.shape.length !== spec.shape.length) return false;
  return spec.shape.every((want, i) => {
    const got = array.shape[i]!;
    return typeof want === 'number' ? got === want : got > 0;
  });
}

/**
 * Returns `value` as the NDArray `name` must return. Otherwise frees it (when it is a
 * runtime object) and throws an ArtifactError on `executable`.
 */
export function checkEntryResult(executable: string, name: EntryFunction, value: TvmValue): NDArray {
  const spec: ResultSpec = ENTRY_RESULTS[name];
  if (value instanceof NDArray && matches(value, spec)) return value;
  const got = describeValue(value);
  if (value !== null && typeof value === 'object' && 'dispose' in value) value.dispose();
  throw new ArtifactError(executable, `entry function '${name}' returned ${got}; the artifact contract says ${formatSpec(spec)}`);
}
