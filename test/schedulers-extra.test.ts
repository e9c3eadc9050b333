// The issue-21 samplers beyond their trajectories (test/schedulers.test.ts): where and in what
// order they draw noise, DPM singlestep's order list, which sigma schedules each accepts (read
// from the reference's resolved configs), and the Karras / exponential / beta sigmas of the
// classes that have no golden file for them, derived from reference data or computed here
// from diffusers' documented formulas, independently of lib/.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGenerator } from '../lib/random/index.js';
import {
  createScheduler,
  SCHEDULER_NAMES,
  sigmaSchedulesFor,
  type NoiseSource,
  type SchedulerName,
  type SigmaSchedule,
} from '../lib/schedulers/index.js';
import { singlestepOrders } from '../lib/schedulers/dpm-singlestep.js';
import { golden, readJson } from './support/golden.js';
import { GOLDEN_FILES, syntheticEps, ulpDistance, type GoldenFile, type GoldenRun } from './support/scheduler-golden.js';
import { titled } from './support/shared-data.js';

const ULPS = 4;
// Float timesteps from log-sigma interpolation: numpy's float32 log is not correctly rounded.
const LOG_TIMESTEP_ULPS = 8;

const dir = golden('schedulers', 'diffusers scheduler trajectories');

interface AddedRun extends GoldenRun {
  noise_draws?: number;
  order_list?: number[];
  config_changed_by_set_timesteps?: Record<string, unknown>;
}
interface AddedFile extends GoldenFile {
  resolved_config: Record<string, unknown>;
  runs: AddedRun[];
}

const load = (file: string): AddedFile => readJson<AddedFile>(join(dir.path, file));

/** A generator that records what each step() drew. */
function recording(seed: number): { source: NoiseSource; draws: Float32Array[] } {
  const generator = createGenerator(seed);
  const draws: Float32Array[] = [];
  return {
    draws,
    source: {
      randn(shape) {
        const out = generator.randn(shape);
        draws.push(out);
        return out;
      },
    },
  };
}

const bits = (a: ArrayLike<number>): Uint32Array => new Uint32Array(Float32Array.from(a).buffer);

describe.skipIf(!dir.available)(titled('issue-21 samplers vs diffusers', dir), () => {
  const stochastic = new Set<SchedulerName>(['dpm2-a', 'dpm++2m-sde', 'dpm++2m-sde-karras', 'lcm', 'ddpm']);
  // The 11 files added for issue 21 follow the 7 older ones.
  const added = GOLDEN_FILES.slice(7);
  it('covers the 11 added reference files', () => expect(added).toHaveLength(11));

  it.each(added)('%s: noise drawn in exactly the calls diffusers drew it, the same values in the same order', (file, name) => {
    const data = load(file);
    for (const run of data.runs) {
      const s = createScheduler(name, { steps: run.num_inference_steps });
      const { source, draws } = recording(data.generator_seed);
      run.steps.forEach((ref, i) => {
        const before = draws.length;
        s.step(Float32Array.from(ref.model_output), i, i === 0 ? Float32Array.from(run.x_init) : Float32Array.from(run.steps[i - 1]!.prev_sample), source);
        expect(draws.length - before, `${run.num_inference_steps} steps, call ${i}`).toBe(ref.noise ? 1 : 0);
        if (ref.noise) expect(bits(draws[draws.length - 1]!)).toEqual(bits(ref.noise));
      });
      expect(draws.length).toBe(run.noise_draws);
      if (stochastic.has(name)) expect(run.noise_draws).toBeGreaterThan(run.num_inference_steps > 1 ? 0 : -1);
      else expect(draws).toHaveLength(0);
    }
  });

  it("dpm++2s alternates orders as diffusers' get_order_list, lower_order_final forced on", () => {
    const data = load('dpmsolver_singlestep.json');
    for (const run of data.runs) {
      expect(run.config_changed_by_set_timesteps).toMatchObject({ lower_order_final: [false, true] });
      expect(singlestepOrders(run.num_inference_steps, true, true)).toEqual(run.order_list);
    }
  });

  it('sigmaSchedulesFor lists the use_*_sigmas options of each class (read from its resolved config)', () => {
    const option: Record<SigmaSchedule, string> = { karras: 'use_karras_sigmas', exponential: 'use_exponential_sigmas', beta: 'use_beta_sigmas' };
    const covered = new Set<SchedulerName>();
    for (const [file, name] of GOLDEN_FILES) {
      const config = load(file).resolved_config;
      const offered = (Object.keys(option) as SigmaSchedule[]).filter((s) => option[s] in config);
      // The Karras ids fix that schedule; the others accept what their class offers.
      const expected = config.use_karras_sigmas === true ? ['karras'] : offered;
      expect([...sigmaSchedulesFor(name)].sort(), name).toEqual([...expected].sort());
      covered.add(name);
    }
    expect([...covered].sort()).toEqual([...SCHEDULER_NAMES].sort());
  });

  // --- sigma schedules that have no golden trajectory -----------------------------------------

  const runOf = (file: string, n: number): GoldenRun => load(file).runs.find((r) => r.num_inference_steps === n)!;
  /** sigma_k of the n base sigmas in Heun's and KDPM2's interleaved layout [s0, s1, s1, s2, s2, ...]. */
  const interleavedBase = (values: readonly number[], n: number): number[] => Array.from({ length: n }, (_, k) => values[k === 0 ? 0 : 2 * k - 1]!);

  it.each([10, 25, 50])('Karras sigmas of heun, dpm2, dpm2-a equal Euler Karras\'s reference sigmas (%i steps)', (n) => {
    const ref = runOf('euler_discrete_karras.json', n);
    for (const name of ['heun', 'dpm2', 'dpm2-a'] as const) {
      const s = createScheduler(name, { steps: n, sigmaSchedule: 'karras' });
      interleavedBase(s.sigmas!, n).forEach((v, k) => expect(ulpDistance(v, ref.sigmas![k]!), `${name} sigma ${k}`).toBeLessThanOrEqual(ULPS));
      if (name === 'heun') {
        interleavedBase(s.timesteps, n).forEach((t, k) => expect(ulpDistance(t, ref.timesteps[k]!), `heun t ${k}`).toBeLessThanOrEqual(LOG_TIMESTEP_ULPS));
      } else {
        // KDPM2 rounds the Karras timesteps (at even calls) where Euler keeps them as float32.
        s.timesteps.filter((_, i) => i % 2 === 0).forEach((t, k) => expect(t, `${name} t ${k}`).toBe(Math.round(ref.timesteps[k]!)));
      }
    }
  });

  it.each([10, 25, 50])("Karras sigmas and timesteps of unipc and dpm++2s equal DPM++ 2M Karras's reference (%i steps)", (n) => {
    const ref = runOf('dpmsolver_multistep_karras.json', n);
    for (const name of ['unipc', 'dpm++2s'] as const) {
      const s = createScheduler(name, { steps: n, sigmaSchedule: 'karras' });
      expect(s.timesteps).toEqual(ref.timesteps);
      s.sigmas!.forEach((v, k) => expect(ulpDistance(v, ref.sigmas![k]!), `${name} sigma ${k}`).toBeLessThanOrEqual(ULPS));
    }
  });

  /** The float32 training sigmas from the reference's alphas_cumprod, and their float32 logs. */
  const trainSigmas = (): { sigmas: Float32Array; logs: Float32Array } => {
    const ac = Float32Array.from(load('ddpm.json').alphas_cumprod);
    const sigmas = ac.map((a) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - a) / a))));
    return { sigmas, logs: sigmas.map((s) => Math.fround(Math.log(s))) };
  };

  /** diffusers' _sigma_to_t, written out again here (float64 over the float32 log sigmas). */
  const sigmaToT = (sigma: number, logs: Float32Array): number => {
    const ls = Math.log(Math.max(sigma, 1e-10));
    let low = 0;
    logs.forEach((l, j) => {
      if (ls >= l) low = j;
    });
    low = Math.min(low, logs.length - 2);
    const w = Math.min(1, Math.max(0, (logs[low]! - ls) / (logs[low]! - logs[low + 1]!)));
    return (1 - w) * low + w * (low + 1);
  };

  /**
   * scipy.stats.beta.ppf(p, 0.6, 0.6) by a method unlike lib's continued fraction: the power
   * series of the incomplete beta integral, x^a/a * sum (1-b)_k/k! * a/(a+k) x^k, on [0, 1/2]
   * and the distribution's symmetry above, inverted by bisection.
   */
  const A = 0.6;
  const integral = (x: number): number => {
    let sum = 0;
    let coeff = 1; // (1 - b)_k / k!
    for (let k = 0; k < 200; k++) {
      sum += (coeff * x ** (A + k)) / (A + k);
      coeff *= (1 - A + k) / (k + 1);
    }
    return sum;
  };
  const half = 2 * integral(0.5); // B(a, a)
  const cdf = (x: number): number => (x <= 0.5 ? integral(x) / half : 1 - integral(1 - x) / half);
  const ppf = (p: number): number => {
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    let [lo, hi] = [0, 1];
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid) < p) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };

  /** diffusers' _convert_to_exponential and _convert_to_beta between sigma_max and sigma_min. */
  const converted = (schedule: 'exponential' | 'beta', max: number, min: number, n: number): number[] =>
    Array.from({ length: n }, (_, i) => {
      const r = n === 1 ? 0 : i / (n - 1);
      return schedule === 'exponential' ? Math.exp(Math.log(max) + r * (Math.log(min) - Math.log(max))) : min + ppf(1 - r) * (max - min);
    });

  for (const schedule of ['exponential', 'beta'] as const) {
    it.each([1, 2, 10, 25])(`${schedule} sigmas and timesteps of the Euler-like classes (%i steps)`, (n) => {
      // Their in_sigmas are the linspace-interpolated ones: the ends are Euler's reference sigmas.
      const ref = runOf('euler_discrete.json', n);
      const { logs } = trainSigmas();
      const expected = converted(schedule, ref.sigmas![0]!, ref.sigmas![n - 1]!, n);
      for (const name of ['euler', 'lms', 'heun', 'dpm2', 'dpm2-a'] as const) {
        const s = createScheduler(name, { steps: n, sigmaSchedule: schedule });
        const two = name !== 'euler' && name !== 'lms';
        const sig = two ? interleavedBase(s.sigmas!, n) : s.sigmas!.slice(0, n);
        sig.forEach((v, k) => expect(ulpDistance(v, expected[k]!), `${name} sigma ${k}`).toBeLessThanOrEqual(ULPS));
        expect(s.sigmas![s.sigmas!.length - 1]).toBe(0);
        const ts = name === 'heun' ? interleavedBase(s.timesteps, n) : two ? s.timesteps.filter((_, i) => i % 2 === 0) : s.timesteps;
        ts.forEach((t, k) => {
          const want = sigmaToT(expected[k]!, logs);
          if (Math.abs(want) < 1) expect(Math.abs(t - want), `${name} t ${k}`).toBeLessThan(1e-3);
          else expect(ulpDistance(t, want), `${name} t ${k}`).toBeLessThanOrEqual(LOG_TIMESTEP_ULPS);
        });
      }
    });

    it.each([1, 2, 10, 25])(`${schedule} sigmas and truncated timesteps of the DPM-Solver and UniPC classes (%i steps)`, (n) => {
      // Their in_sigmas are the whole training range, flipped.
      const { sigmas, logs } = trainSigmas();
      const expected = converted(schedule, sigmas[sigmas.length - 1]!, sigmas[0]!, n);
      for (const name of ['dpm++2m', 'dpm++2m-sde', 'dpm++2s', 'unipc'] as const) {
        const s = createScheduler(name, { steps: n, sigmaSchedule: schedule });
        s.sigmas!.slice(0, n).forEach((v, k) => expect(ulpDistance(v, expected[k]!), `${name} sigma ${k}`).toBeLessThanOrEqual(ULPS));
        expect(s.sigmas![n]).toBe(0);
        // torch's int64 cast truncates the unrounded _sigma_to_t result.
        expect(s.timesteps, name).toEqual(expected.map((v) => Math.trunc(sigmaToT(v, logs))));
      }
    });
  }

  it.each(SCHEDULER_NAMES.flatMap((name) => sigmaSchedulesFor(name).map((schedule) => [name, schedule] as const)))(
    '%s with %s sigmas runs whole trajectories',
    (name, schedule) => {
      for (const steps of [1, 2, 5, 30]) {
        const s = createScheduler(name, { steps, sigmaSchedule: schedule });
        let x: Float32Array = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * s.initNoiseSigma);
        const generator = createGenerator(3);
        for (let i = 0; i < s.length; i++) x = s.step(syntheticEps(s.scaleModelInput(x, i), s.timesteps[i]!), i, x, generator);
        expect(x.every(Number.isFinite)).toBe(true);
      }
    },
  );
});

describe('issue-21 sampler options', () => {
  it('refuses sigma schedules a class does not take, unknown ones and contradictions, with TypeErrors', () => {
    expect(() => createScheduler('pndm', { steps: 5, sigmaSchedule: 'karras' })).toThrow(/no sigma schedule option/);
    expect(() => createScheduler('lcm', { steps: 4, sigmaSchedule: 'beta' })).toThrow(TypeError);
    expect(() => createScheduler('euler-karras', { steps: 5, sigmaSchedule: 'exponential' })).toThrow(/accepts sigmaSchedule 'karras'/);
    expect(() => createScheduler('euler', { steps: 5, sigmaSchedule: 'polyexponential' as SigmaSchedule })).toThrow(/unknown sigmaSchedule/);
    expect(() => createScheduler('euler', { steps: 5, useKarrasSigmas: true, sigmaSchedule: 'beta' })).toThrow(/conflicts/);
    for (const name of SCHEDULER_NAMES) {
      for (const schedule of ['karras', 'exponential', 'beta'] as const) {
        const make = (): unknown => createScheduler(name, { steps: 5, sigmaSchedule: schedule });
        if (sigmaSchedulesFor(name).includes(schedule)) expect(make).not.toThrow();
        else expect(make).toThrow(TypeError);
      }
    }
  });

  it("the Karras ids are their base sampler with sigmaSchedule 'karras'", () => {
    const pairs = [['euler-karras', 'euler'], ['lms-karras', 'lms'], ['dpm++2m-karras', 'dpm++2m'], ['dpm++2m-sde-karras', 'dpm++2m-sde']] as const;
    for (const [alias, base] of pairs) {
      const a = createScheduler(alias, { steps: 12 });
      const b = createScheduler(base, { steps: 12, sigmaSchedule: 'karras' });
      expect(a.name).toBe(alias);
      expect(a.timesteps).toEqual(b.timesteps);
      expect(a.sigmas).toEqual(b.sigmas);
    }
  });

  it('lcm refuses more steps than its 50-step original schedule; stochastic steps need a generator', () => {
    expect(() => createScheduler('lcm', { steps: 51 })).toThrow(RangeError);
    const x = new Float32Array(16);
    expect(() => createScheduler('lcm', { steps: 2 }).step(x, 0, x)).toThrow(/generator/);
    expect(createScheduler('lcm', { steps: 1 }).step(x, 0, x)).toHaveLength(16); // its last step draws nothing
    expect(() => createScheduler('ddpm', { steps: 2 }).step(x, 0, x)).toThrow(/generator/);
    expect(() => createScheduler('dpm++2m-sde', { steps: 2 }).step(x, 0, x)).toThrow(/generator/);
    const dpm2a = createScheduler('dpm2-a', { steps: 3 });
    dpm2a.step(x, 0, x); // the first stage is deterministic
    expect(() => dpm2a.step(x, 1, x)).toThrow(/generator/);
  });
});
