/**
 * Float32 log and sincos exactly as torch's AVX2 kernels compute them (the Cephes-style
 * polynomials of avx_mathfun, used by normal_fill_16_AVX2). Each vector operation is one
 * float32 rounding, reproduced with Math.fround: a float32 op evaluated in double and
 * rounded once is correctly rounded, so the results are bit-identical.
 *
 * torch's wheels are built by GCC with -m and GCC contracts a multiply whose only use
 * is an add or subtract into one fused multiply-add (its intrinsics are plain vector
 * arithmetic). The places where that happens are written with fma() below; getting them
 * wrong leaves about 1% of values one ulp off.
 */
import { fma } from '../numeric/fma.js';

const f = Math.fround;
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function bitsOf(x: number): number {
  F32[0] = x;
  return U32[0]!;
}

function fromBits(bits: number): number {
  U32[0] = bits >>> 0;
  return F32[0]!;
}

const MIN_NORM_POS = fromBits(0x00800000);
const SQRTHF = f(0.707106781186547524);
const LOG_P = [7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1].map(f);
const LOG_Q1 = f(-2.12194440e-4);
const LOG_Q2 = f(0.693359375);

/** log256_ps for one lane (x > 0). */
export function logF32(input: number): number {
  let x = Math.max(input, MIN_NORM_POS);
  const bits = bitsOf(x);
  let e = f((bits >>> 23) - 0x7f);
  x = fromBits((bits & ~0x7f800000) | bitsOf(0.5));
  e = f(e + 1);
  const mask = x < SQRTHF;
  const tmp = mask ? x : 0;
  x = f(x - 1);
  e = f(e - (mask ? 1 : 0));
  x = f(x + tmp);
  const z = f(x * x);
  let y = LOG_P[0]!;
  for (let i = 1; i < LOG_P.length; i++) y = fma(y, x, LOG_P[i]!);
  y = f(y * x);
  y = fma(y, z, f(e * LOG_Q1));
  y = f(y - f(z * 0.5)); // z * 0.5 is exact: fused or not, the same
  x = fma(e, LOG_Q2, f(x + y));
  return input <= 0 ? Number.NaN : x;
}

const FOPI = f(1.27323954473516);
const MINUS_DP1 = f(-0.78515625);
const MINUS_DP2 = f(-2.4187564849853515625e-4);
const MINUS_DP3 = f(-3.77489497744594108e-8);
const SINCOF = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COSCOF = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

/** sincos256_ps for one lane: [sin(x), cos(x)]. */
export function sincosF32(input: number): [number, number] {
  let signSin = input < 0 || Object.is(input, -0);
  let x = Math.abs(input);
  let y = f(x * FOPI);
  let j = Math.trunc(y) | 0;
  j = (j + 1) & ~1;
  y = f(j);
  const swapSin = (j & 4) !== 0;
  const polyMask = (j & 2) === 0;
  x = fma(y, MINUS_DP1, x);
  x = fma(y, MINUS_DP2, x);
  x = fma(y, MINUS_DP3, x);
  const signCos = (~(j - 2) & 4) !== 0;
  signSin = signSin !== swapSin;

  const z = f(x * x);
  let yc = COSCOF[0]!;
  yc = fma(yc, z, COSCOF[1]!);
  yc = fma(yc, z, COSCOF[2]!);
  yc = f(yc * z);
  yc = fma(yc, z, -f(z * 0.5));
  yc = f(yc + 1);

  let ys = SINCOF[0]!;
  ys = fma(ys, z, SINCOF[1]!);
  ys = fma(ys, z, SINCOF[2]!);
  ys = f(ys * z);
  ys = fma(ys, x, x);

  const ysin2 = polyMask ? ys : 0;
  const ysin1 = polyMask ? 0 : yc;
  const s = f(ysin1 + ysin2);
  const c = f(f(yc - ysin1) + f(ys - ysin2));
  return [signSin ? -s : s, signCos ? -c : c];
}
