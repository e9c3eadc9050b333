// One real-size UNet step and one VAE decode through sd-mali on a GPU's OpenCL driver, cold
// (kernels built from source) and warm (the OpenCL program cache, in a new process), with
// the host's per-step overhead. usage: node run.mjs RUNTIME MODEL_DIR LABEL CACHE_DIR
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StableDiffusion } from '../../dist/lib/index.js';

const [runtime, model, label, cache] = process.argv.slice(2);
const t0 = performance.now();
const pipe = await StableDiffusion.load(model, { device: 'opencl', tvmRuntime: runtime, programCache: cache, allowCpuOpenCl: false });
const loadMs = performance.now() - t0;
const dev = pipe.info.openClDevice;
const precision = JSON.parse(readFileSync(join(model, 'sd-mali.json'), 'utf8')).precision;
if (precision === 'float16' && dev && !dev.fp16) {
  console.log(`RESULT ${JSON.stringify({ label, device: dev.name, skipped: 'the device has no cl_khr_fp16: an FP16 build cannot run on it' })}`);
  process.exit(0);
}
const rows = [];
for (const round of ['first', 'second']) {
  const image = await pipe.generate('a photograph of an astronaut riding a horse', { steps: 1, seed: 42, scheduler: 'euler' });
  const t = image.timings;
  rows.push({ round, unetMs: t.unetMs[0], vaeMs: t.vaeMs, textEncoderMs: t.textEncoderMs, copyMs: t.copyMs?.[0], schedulerMs: t.schedulerMs?.[0], totalMs: t.totalMs });
}
console.log(`RESULT ${JSON.stringify({ label, precision, device: dev?.name, driver: dev?.driverVersion, fp16: dev?.fp16, loadMs, rows })}`);
pipe.dispose();
