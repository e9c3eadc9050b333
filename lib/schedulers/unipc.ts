/**
 * UniPCMultistepScheduler with diffusers' defaults (solver_order 2, bh2, predict_x0,
 * lower_order_final): from the second call on, step() first corrects the sample it is given
 * (UniC, with this call's model output), then predicts the next one (UniP).
 */
import { f32 } from './numpy-like.js';
import type { SchedulerName } from './names.js';
import { integerTimestepScheduler, StepCounter, type Scheduler, type SchedulerOptions } from './scheduler.js';
import { alphaSigma, dataPrediction, lambdaOf, lambdaSchedule } from './lambda-schedule.js';

/**
 * torch.linalg.solve of the 2x2 system [[1, 1], [rk, 1]] x = b as LAPACK's sgesv does it
 * in float32: partial pivoting, the multiplier as a product with the pivot's reciprocal.
 */
function solve2(rk: number, b0: number, b1: number): [number, number] {
  let [a00, a01, a10, a11, y0, y1] = [1, 1, rk, 1, b0, b1];
  if (Math.abs(a10) > Math.abs(a00)) [a00, a01, a10, a11, y0, y1] = [a10, a11, a00, a01, y1, y0];
  const l = f32(a10 * f32(1 / a00));
  const u11 = f32(a11 - f32(l * a01));
  const z1 = f32(y1 - f32(l * y0));
  const x1 = f32(z1 / u11);
  const x0 = f32(f32(y0 - f32(x1 * a01)) / a00);
  return [x0, x1];
}

/** The bh2 coefficients shared by predictor and corrector for step size h (in lambda). */
function bh2(h: number): { hh: number; hPhi1: number; bH: number; b: (order: number) => number[] } {
  const hh = f32(-h);
  const hPhi1 = f32(Math.expm1(hh));
  const bH = hPhi1;
  return {
    hh,
    hPhi1,
    bH,
    b(order) {
      const out: number[] = [];
      let hPhiK = f32(f32(hPhi1 / hh) - 1);
      let factorial = 1;
      for (let i = 1; i <= order; i++) {
        out.push(f32(f32(hPhiK * factorial) / bH));
        factorial *= i + 1;
        hPhiK = f32(f32(hPhiK / hh) - f32(1 / factorial));
      }
      return out;
    },
  };
}

export function createUniPc(name: SchedulerName, options: SchedulerOptions): Scheduler {
  const { timesteps, sigmas: sig } = lambdaSchedule(options, { convertedSigmaMinIsLast: true });
  const n = timesteps.length;
  const counter = new StepCounter(name, n, options.beginIndex);
  const outputs: (Float32Array | undefined)[] = [undefined, undefined]; // converted model outputs, oldest first
  let lastSample: Float32Array | undefined;
  let thisOrder = 0;
  let lowerOrderNums = 0;

  /** multistep_uni_c_bh_update: corrects `current` (reached from `last`) with its own model output. */
  const correct = (modelT: Float32Array, last: Float32Array, current: Float32Array, i: number, order: number): Float32Array => {
    const m0 = outputs[1]!;
    const [alphaT, sigmaT] = alphaSigma(sig[i]!);
    const sigmaS0 = alphaSigma(sig[i - 1]!)[1];
    const lambdaS0 = lambdaOf(sig[i - 1]!);
    const h = f32(lambdaOf(sig[i]!) - lambdaS0);
    const { hPhi1, bH, b } = bh2(h);
    let rhoLast = 0.5;
    let corr: ((k: number) => number) | undefined;
    if (order === 2) {
      const m1 = outputs[0]!;
      const rk = f32(f32(lambdaOf(sig[i - 2]!) - lambdaS0) / h);
      const [b0, b1] = b(2) as [number, number];
      const [rho0, rho1] = solve2(rk, b0, b1);
      rhoLast = rho1;
      corr = (k) => f32(rho0 * f32(f32(m1[k]! - m0[k]!) / rk));
    }
    const ratio = f32(sigmaT / sigmaS0);
    const ah = f32(alphaT * hPhi1);
    const ab = f32(alphaT * bH);
    const out = new Float32Array(current.length);
    for (let k = 0; k < out.length; k++) {
      const base = f32(f32(ratio * last[k]!) - f32(ah * m0[k]!));
      const d1t = f32(modelT[k]! - m0[k]!);
      const res = f32((corr ? corr(k) : 0) + f32(rhoLast * d1t));
      out[k] = f32(base - f32(ab * res));
    }
    return out;
  };

  /** multistep_uni_p_bh_update: the next sample from `x` at step i. */
  const predict = (x: Float32Array, i: number, order: number): Float32Array => {
    const m0 = outputs[1]!;
    const [alphaT, sigmaT] = alphaSigma(sig[i + 1]!);
    const sigmaS0 = alphaSigma(sig[i]!)[1];
    const lambdaS0 = lambdaOf(sig[i]!);
    const h = f32(lambdaOf(sig[i + 1]!) - lambdaS0);
    const { hPhi1, bH } = bh2(h);
    const ratio = f32(sigmaT / sigmaS0);
    const ah = f32(alphaT * hPhi1);
    const ab = f32(alphaT * bH);
    const out = new Float32Array(x.length);
    if (order === 1) {
      for (let k = 0; k < out.length; k++) out[k] = f32(f32(f32(ratio * x[k]!) - f32(ah * m0[k]!)) - f32(ab * 0));
      return out;
    }
    // Order 2, the simplified rhos_p = 0.5.
    const m1 = outputs[0]!;
    const rk = f32(f32(lambdaOf(sig[i - 1]!) - lambdaS0) / h);
    for (let k = 0; k < out.length; k++) {
      const base = f32(f32(ratio * x[k]!) - f32(ah * m0[k]!));
      const pred = f32(0.5 * f32(f32(m1[k]! - m0[k]!) / rk));
      out[k] = f32(base - f32(ab * pred));
    }
    return out;
  };

  return {
    ...integerTimestepScheduler(name, timesteps),
    sigmas: [...sig],
    step(modelOutput, i, sample) {
      counter.take(i, modelOutput, sample);
      const converted = dataPrediction(sample, modelOutput, sig[i]!);
      let x = sample;
      if (i > 0 && lastSample) x = correct(converted, lastSample, sample, i, thisOrder);
      outputs[0] = outputs[1];
      outputs[1] = converted;
      thisOrder = Math.min(Math.min(2, n - i), lowerOrderNums + 1);
      lastSample = x;
      const out = predict(x, i, thisOrder);
      if (lowerOrderNums < 2) lowerOrderNums++;
      return out;
    },
  };
}
