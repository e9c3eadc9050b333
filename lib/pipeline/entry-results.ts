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

export type EntryFunction = 'clip' | 'concat_embeddings' | 'unet' | 'vae' | 'vae_encode' | 'image_to_rgba';

/** What each entry function returns for latents of `latentShape` ([1, C, h, w]). */
export function entryResults(latentShape: readonly number[]): Record<EntryFunction, ResultSpec> {
  const [, channels, h, w] = latentShape as [number, number, number, number];
  return {
    clip: { dtype: 'float32', shape: [1, 77, 'hidden'] },
    concat_embeddings: { dtype: 'float32', shape: [2, 77, 'hidden'] },
    unet: { dtype: 'float32', shape: ['batch', channels, h, w] },
    vae: { dtype: 'float32', shape: [1, 'height', 'width', 3] },
    // Index 0 the latent distribution's mean, index 1 its standard deviation (sd-mali.json's contract).
    vae_encode: { dtype: 'float32', shape: [2, channels, h, w] },
    image_to_rgba: { dtype: 'uint32', shape: ['height', 'width'] },
  };
}

/** The results of the RK3588 port's SD 1.5 build (64x64 latents). */
export const ENTRY_RESULTS = entryResults([1, 4, 64, 64]);

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
export function checkEntryResult(executable: string, name: EntryFunction, value: TvmValue, results: Record<EntryFunction, ResultSpec> = ENTRY_RESULTS): NDArray {
  const spec: ResultSpec = results[name];
  if (value instanceof NDArray && matches(value, spec)) return value;
  const got = describeValue(value);
  if (value !== null && typeof value === 'object' && 'dispose' in value) value.dispose();
  throw new ArtifactError(executable, `entry function '${name}' returned ${got}; the artifact contract says ${formatSpec(spec)}`);
}
