/**
 * The few numpy and torch behaviours the diffusers schedulers rely on, reproduced to the
 * bit where it matters: numpy's linspace/arange/round/interp (float64), and torch's
 * float32 linspace/cumprod used for the training schedule.
 */

import { fma } from '../numeric/fma.js';

export const f32 = Math.fround;

/** np.linspace(start, stop, num) in float64 (endpoint included; num = 1 gives [start]). */
export function linspace(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const out: number[] = [];
  if (div <= 0) {
    for (let i = 0; i < num; i++) out.push(i * (stop - start) + start);
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

/** np.arange(start, stop, step) with a float step: ceil((stop - start) / step) values start + i * step. */
export function arange(start: number, stop: number, step: number): number[] {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** np.round: halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds halves up; step back where that made an odd result from an exact half.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.interp(x, arange(len(fp)), fp) in float64. */
export function interpIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0]!;
  if (x >= last) return fp[last]!;
  const j = Math.floor(x);
  if (j === x) return fp[j]!;
  const slope = (fp[j + 1]! - fp[j]!) / (j + 1 - j);
  return slope * (x - j) + fp[j]!;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) on the CPU: each half counted from its
 * own end, `start + step * i` as one fused multiply-add (torch's build contracts it).
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const s = f32(start);
  const e = f32(end);
  const step = steps > 1 ? f32(f32(e - s) / (steps - 1)) : 0;
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? fma(step, i, s) : fma(-step, steps - i - 1, e);
  }
  return out;
}

/** torch.cumprod on a float32 CPU tensor: the running product is kept in double. */
export function torchCumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i]!;
    out[i] = acc;
  }
  return out;
}
