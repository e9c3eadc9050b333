/**
 * One process of the warm-start bench: load the model on a device with a given program
 * cache, run one UNet step (clip, unet, vae and image_to_rgba all run, so every kernel is
 * built or taken from the cache), print the times and the cache counts as JSON.
 */
import { StableDiffusion } from '../lib/index.js';
import { programCacheStats } from '../lib/tvm/index.js';

const [model, device, cache] = process.argv.slice(2) as [string, string, string];
const t0 = performance.now();
const pipe = await StableDiffusion.load(model, { device, programCache: cache === 'off' ? false : cache });
const loadMs = performance.now() - t0;
const t1 = performance.now();
await pipe.generate('a red fox', { steps: 1, seed: 1, scheduler: 'ddim' });
const firstStepMs = performance.now() - t1;
const out = { device: pipe.info.device, deviceName: pipe.info.deviceName, loadMs, firstStepMs, totalMs: loadMs + firstStepMs, stats: programCacheStats() };
pipe.dispose();
process.stdout.write(`${JSON.stringify(out)}\n`);
