/**
 * The generation worker: a child process of `sd-mali serve` that owns the TVM runtime, the
 * weights and the OpenCL context, so a GPU fault that poisons a process kills only this one.
 * Loads the model (with a warmup, which also finds out whether guidance is baked in), says
 * 'ready', then runs one generate per message, reporting steps with a latent preview.
 */
import { encodePng, formatParameters } from '../../image/index.js';
import { StableDiffusion } from '../../pipeline/index.js';
import { latentPreview } from '../preview.js';
import { describeFailure } from './failure.js';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.js';

const PREVIEW_EVERY_MS = 100;

function send(message: FromWorker): void {
  process.send?.(message);
}

// The server is our only reason to exist: when the IPC channel closes, leave.
process.on('disconnect', () => process.exit(0));

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const started = performance.now();
let pipe: StableDiffusion;
try {
  pipe = await StableDiffusion.load(config.model, {
    warmup: true,
    ...(config.device !== undefined ? { device: config.device } : {}),
    ...(config.runtime !== undefined ? { tvmRuntime: config.runtime } : {}),
    ...(config.tokenizer !== undefined ? { tokenizer: config.tokenizer } : {}),
    ...(config.allowCpuOpenCl ? { allowCpuOpenCl: true } : {}),
    ...(config.programCache !== undefined ? { programCache: config.programCache } : {}),
  });
} catch (err) {
  send({ type: 'load-failed', error: describeFailure(err) });
  process.disconnect?.();
  process.exit(1);
}

const info = pipe.info;
const [, , latentH = 64, latentW = 64] = info.latentShape;
const running = new Map<number, AbortController>();

async function generate(id: number, request: Extract<ToWorker, { type: 'generate' }>['request']): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  let lastPreview = -Infinity;
  try {
    const image = await pipe.generate(request.prompt, {
      negativePrompt: request.negativePrompt,
      steps: request.steps,
      scheduler: request.scheduler,
      ...(request.sigmaSchedule !== undefined ? { schedulerOptions: { sigmaSchedule: request.sigmaSchedule } } : {}),
      seed: request.seed,
      signal: controller.signal,
      // A cancel (interrupt, skip) keeps what was made so far, as A1111 returns it.
      decodeOnAbort: true,
      ...(request.guidanceScale !== undefined ? { guidanceScale: request.guidanceScale } : {}),
      ...(request.image !== undefined ? { image: request.image } : {}),
      ...(request.mask !== undefined ? { mask: request.mask } : {}),
      ...(request.strength !== undefined ? { strength: request.strength } : {}),
      ...(request.resizeMode !== undefined ? { resizeMode: request.resizeMode } : {}),
      ...(request.maskBlur !== undefined ? { maskBlur: request.maskBlur } : {}),
      ...(request.invertMask !== undefined ? { invertMask: request.invertMask } : {}),
      onStep: (s) => {
        const now = performance.now();
        const withPreview = s.step === 1 || s.step === s.steps || now - lastPreview >= PREVIEW_EVERY_MS;
        if (withPreview) lastPreview = now;
        send({
          type: 'step',
          id,
          step: s.step,
          steps: s.steps,
          previewWidth: latentW,
          previewHeight: latentH,
          ...(withPreview ? { preview: latentPreview(s.latents, latentW, latentH) } : {}),
        });
      },
    });
    const parameters = request.infotext ?? formatParameters(image.parameters);
    const png = await encodePng(image.rgba, image.width, image.height, { parameters });
    send({
      type: 'done',
      id,
      image: { png, parameters, seed: request.seed, width: image.width, height: image.height, totalMs: image.timings.totalMs, partial: controller.signal.aborted },
    });
  } catch (err) {
    send({ type: 'failed', id, error: describeFailure(err) });
  } finally {
    running.delete(id);
  }
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'generate') void generate(message.id, message.request);
  else if (message.type === 'cancel') running.get(message.id)?.abort(new Error('cancelled by the server'));
});

send({
  type: 'ready',
  info: {
    pid: process.pid,
    modelDir: info.modelDir,
    device: info.device,
    deviceName: info.openClDevice?.name ?? info.deviceName,
    deviceKind: info.deviceKind,
    runtimePath: info.runtimePath,
    executable: info.executable,
    guidanceBaked: info.guidanceBaked === true,
    width: info.imageSize.width,
    height: info.imageSize.height,
    canEncodeImages: info.canEncodeImages,
    loadMs: performance.now() - started,
  },
});
