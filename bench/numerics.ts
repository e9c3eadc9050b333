/** Host-side numerics: tokenizer throughput, scheduler step time on [1,4,64,64], torch-style noise. */
import { ClipTokenizer } from '../lib/tokenizer/index.js';
import { createScheduler, SCHEDULER_NAMES } from '../lib/schedulers/index.js';
import { createGenerator } from '../lib/random/index.js';
import { measure, type BenchRow } from './measure.js';

const PROMPTS = [
  'a photo of an astronaut riding a horse on mars',
  '(masterpiece:1.2), best quality, ultra-detailed, 8k, a red fox in a misty forest, national geographic photo, bokeh',
  'Ein Fuchs im Nebel, 霧の中の狐, лиса в тумане 🦊✨',
];

export async function benchNumerics(tokenizerDir: string | undefined): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  if (tokenizerDir) {
    const tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir);
    // Cold: every word new to the BPE cache; warm: the cache holds them.
    let n = 0;
    rows.push(
      measure('tokenizer: encodePadded, cold (unique words)', 2000, () => {
        tokenizer.encodePadded(`${PROMPTS[n % 3]} word${n++} zq${n * 7919}x`);
      }, 'prompt'),
    );
    rows.push(measure('tokenizer: encodePadded, warm cache', 5000, () => void tokenizer.encodePadded(PROMPTS[n++ % 3]!), 'prompt'));
  }
  const shape = [1, 4, 64, 64];
  const size = 4 * 64 * 64;
  for (const name of SCHEDULER_NAMES) {
    // LCM's steps are a subset of its 50-step original schedule; a run that ends starts again.
    const steps = name === 'lcm' ? 50 : 1000;
    let scheduler = createScheduler(name, { steps });
    const generator = createGenerator(1);
    let x = createGenerator(42).randn(shape);
    const eps = createGenerator(43).randn(shape);
    let i = 0;
    rows.push(
      measure(`scheduler ${name}: scaleModelInput + step, [1,4,64,64]`, 200, () => {
        if (i === scheduler.length) {
          scheduler = createScheduler(name, { steps });
          i = 0;
        }
        const input = scheduler.scaleModelInput(x, i);
        void input;
        x = scheduler.step(eps, i++, x, generator);
      }, 'step'),
    );
  }
  // Building a schedule runs on the event loop before the first step: the slowest ones
  // (beta quantiles, DPM2's interpolated timesteps) at the largest step count, against the
  // 20 ms the event loop may be held.
  for (const [name, sigmaSchedule] of [['euler', 'beta'], ['dpm++2m-sde', 'beta'], ['dpm2-a', 'karras'], ['heun', 'exponential']] as const) {
    rows.push(measure(`createScheduler ${name}, ${sigmaSchedule} sigmas, 1000 steps (budget 20 ms)`, 20, () => void createScheduler(name, { steps: 1000, sigmaSchedule }), 'schedule'));
  }
  const generator = createGenerator(42);
  rows.push(measure(`randn [1,4,64,64] (${size} values)`, 100, () => void generator.randn(shape), 'draw'));
  return rows;
}
