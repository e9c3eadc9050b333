/**
 * float32 fused multiply-add in JavaScript. Compilers fuse a float32 multiply and add
 * into one FMA instruction (GCC does by default with -mfma), and torch's CPU kernels are
 * built that way, so reproducing torch to the bit needs the single rounding.
 */
const f = Math.fround;
const F64 = new Float64Array(1);
const U64 = new Uint32Array(F64.buffer);

/** float32(a * b + c) with one rounding, for float32 a, b, c. */
export function fma(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24 + 24 bits
  const s = p + c;
  // TwoSum: the exact rounding error of s.
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0 || !Number.isFinite(s)) return f(s);
  // Round to odd in double, then to nearest in float: no double-rounding error (53 >= 24 + 2).
  F64[0] = s;
  if ((U64[0]! & 1) === 0) {
    const towardErr = (err > 0) === (s > 0);
    // Move one ulp of |s| up or down.
    let lo = U64[0]!;
    let hi = U64[1]!;
    if (towardErr) {
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    } else {
      if (lo === 0) hi = (hi - 1) >>> 0;
      lo = (lo - 1) >>> 0;
    }
    U64[0] = lo;
    U64[1] = hi;
  }
  return f(F64[0]!);
}
