/**
 * The Stable Diffusion pipeline over a compiled model directory: load once, then generate
 * images. A generate reads as diffusers' pipelines do, one stage each: encode the prompt,
 * prepare the latents (txt2img, img2img or inpainting), the denoising loop with guidance,
 * decode. Every decision (tokens, noise, schedule, guidance) is made here in TypeScript;
 * the executable only runs clip, unet, vae, vae_encode and image_to_rgba.
 */
import { AbortError, DisposedError, InvalidArgumentError, InvalidImageError, throwIfAborted } from '../errors.js';
import { GeneratedImage, type GenerationTimings } from '../image/index.js';
import { inputImageSize, loadInputImage, loadMask } from '../image/input-image.js';
import { createGenerator } from '../random/index.js';
import { createScheduler, type Scheduler } from '../schedulers/index.js';
import type { ClipTokenizer } from '../tokenizer/index.js';
import { CLIP_MAX_LENGTH } from '../tokenizer/index.js';
import { recordProgramCacheRun } from '../tvm/index.js';
import { decodeLatents } from './decode.js';
import { denoise } from './denoise.js';
import { encodePrompt, type PromptIds } from './encode-prompt.js';
import { bakedGuidanceError } from './guidance.js';
import { disposeModel, loadModel, type LoadedModel, type PipelineInfo } from './loaded-model.js';
import { schedulerOrder, strengthBeginIndex } from './noising.js';
import { BAKED_GUIDANCE_SCALE, randomSeed, resolveGenerateOptions, type GenerateOptions, type LoadOptions, type ResolvedGenerateOptions } from './options.js';
import { prepareImg2imgLatents, prepareInpaintLatents, prepareTxt2imgLatents, type PreparedLatents } from './prepare-latents.js';
import { ResourceScope } from './resource-scope.js';
import { StageTimer } from './timer.js';

export { REQUIRED_FUNCTIONS, type PipelineInfo } from './loaded-model.js';

/** Token ids for the lower-level entry: 77 each, as the tokenizer pads them. */
export interface TokenIds {
  prompt: Int32Array | readonly number[];
  negative: Int32Array | readonly number[];
}

/**
 * Checks ids for the text encoder: 77 integers, each a row of its token embedding. An id
 * outside the vocabulary reads outside that table on the device (a wrong image, or a crash).
 */
function toIds(ids: Int32Array | readonly number[], what: string, vocabSize: number): Int32Array {
  if (!(ids instanceof Int32Array) && !Array.isArray(ids)) throw new InvalidArgumentError(`${what} must be an Int32Array or an array of numbers`);
  if (ids.length !== CLIP_MAX_LENGTH) throw new InvalidArgumentError(`${what} must hold ${CLIP_MAX_LENGTH} token ids, got ${ids.length}`);
  for (let i = 0; i < ids.length; i++) {
    const id: unknown = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new InvalidArgumentError(`${what}[${i}] is ${String(id)}: token ids must be integers from 0 to ${vocabSize - 1} (the tokenizer's vocabulary)`);
    }
  }
  return ids instanceof Int32Array ? ids : Int32Array.from(ids);
}

/**
 * Checks generate options without a loaded pipeline, with the rules generate applies: for
 * callers (the CLI) that must refuse bad options before minutes of loading. (The latents'
 * length depends on the model: generate checks it.)
 */
export function checkGenerateOptions(options: GenerateOptions): void {
  resolveGenerateOptions(options, undefined);
}

/** Whether this run uses classifier-free guidance, and at which scale. */
function guidanceOf(model: LoadedModel, opts: ResolvedGenerateOptions): { guided: boolean; scale: number } {
  const scale = opts.guidanceScale ?? BAKED_GUIDANCE_SCALE;
  if (!model.geometry.hostGuidance) {
    if (model.info.guidanceBaked === true && opts.guidanceScale !== undefined && opts.guidanceScale !== BAKED_GUIDANCE_SCALE) throw bakedGuidanceError(opts.guidanceScale);
    return { guided: true, scale };
  }
  // diffusers' do_classifier_free_guidance: guidance_scale > 1.
  return { guided: scale > 1, scale };
}

/** The image, and the mask where there is one, decoded at the model's size (off the event loop). */
async function loadInputs(model: LoadedModel, opts: ResolvedGenerateOptions): Promise<{ rgb: Uint8Array; mask?: Uint8Array } | undefined> {
  if (opts.image === undefined) return undefined;
  const size = model.geometry.image;
  if (opts.mask !== undefined) {
    const [imageSize, maskSize] = await Promise.all([inputImageSize(opts.image, 'the image'), inputImageSize(opts.mask, 'the mask')]);
    if (imageSize.width !== maskSize.width || imageSize.height !== maskSize.height) {
      throw new InvalidImageError('size-mismatch', `the mask is ${maskSize.width}x${maskSize.height} but the image is ${imageSize.width}x${imageSize.height}; they must be the same size`);
    }
  }
  const { rgb } = await loadInputImage(opts.image, size, opts.resizeMode);
  if (opts.mask === undefined) return { rgb };
  return { rgb, mask: await loadMask(opts.mask, size, opts.resizeMode, { blur: opts.maskBlur, invert: opts.invertMask }) };
}

export class StableDiffusion implements Disposable {
  #model: LoadedModel | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(model: LoadedModel) {
    this.#model = model;
  }

  /** Opens the runtime, loads the executable and puts the weights on the device. */
  static async load(dir: string, options: LoadOptions = {}): Promise<StableDiffusion> {
    const model = await loadModel(dir, options);
    const pipe = new StableDiffusion(model);
    if (options.warmup) {
      try {
        throwIfAborted(options.signal);
        await pipe.#warmup();
      } catch (err) {
        pipe.dispose();
        throw err;
      }
      options.onProgress?.({ phase: 'warmup', loadedBytes: model.info.weights.totalBytes, totalBytes: model.info.weights.totalBytes });
    }
    return pipe;
  }

  /** What was found and loaded. */
  get info(): PipelineInfo {
    return { ...this.#require().info };
  }

  get tokenizer(): ClipTokenizer {
    return this.#require().tokenizer;
  }

  get disposed(): boolean {
    return this.#model === undefined;
  }

  /**
   * Makes an image from a prompt: text-to-image, or img2img / inpainting with `image`
   * (and `mask`). Calls are queued: a second generate starts when the first one has ended.
   * Aborting (signal) stops between steps with an AbortError and leaves the pipeline usable.
   */
  generate(prompt: string, options: GenerateOptions = {}): Promise<GeneratedImage> {
    if (typeof prompt !== 'string') return Promise.reject(new InvalidArgumentError('the prompt must be a string'));
    return this.#enqueue(async () => {
      const model = this.#require();
      const opts = resolveGenerateOptions(options, model.geometry.latentShape);
      const timer = new StageTimer();
      const { guided } = guidanceOf(model, opts);
      const ids: PromptIds = { prompt: model.tokenizer.encodePadded(prompt) };
      if (guided) ids.negative = model.tokenizer.encodePadded(opts.negativePrompt);
      return this.#run(model, ids, prompt, opts, timer, timer.elapsedMs());
    }, options.signal);
  }

  /** The same pipeline from token ids (77 each, padded as the tokenizer pads them). */
  generateFromIds(ids: TokenIds, options: GenerateOptions = {}): Promise<GeneratedImage> {
    return this.#enqueue(async () => {
      const model = this.#require();
      const opts = resolveGenerateOptions(options, model.geometry.latentShape);
      const vocab = model.tokenizer.vocabSize;
      const checked: PromptIds = { prompt: toIds(ids.prompt, 'prompt ids', vocab) };
      const negative = toIds(ids.negative, 'negative ids', vocab);
      if (guidanceOf(model, opts).guided) checked.negative = negative;
      return this.#run(model, checked, '', opts, new StageTimer(), 0);
    }, options.signal);
  }

  /** Frees everything on the device. Generates queued or called later fail with a DisposedError. */
  dispose(): void {
    const model = this.#model;
    if (!model) return;
    this.#model = undefined;
    disposeModel(model);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #require(): LoadedModel {
    if (!this.#model) throw new DisposedError('this StableDiffusion pipeline was disposed');
    return this.#model;
  }

  /**
   * Runs `task` after the tasks queued before it. A task whose signal fires while it waits
   * rejects at once with an AbortError and never starts; the queue order is unchanged.
   */
  #enqueue<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.#queue;
    let settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };
    const result = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
    const abortWhileWaiting = (): void =>
      settle.reject(new AbortError('generation aborted while waiting for the one before it', { cause: signal?.reason }));
    signal?.addEventListener('abort', abortWhileWaiting, { once: true });
    const done = previous.then(async () => {
      signal?.removeEventListener('abort', abortWhileWaiting);
      if (signal?.aborted) return abortWhileWaiting();
      let value: T;
      try {
        value = await task();
      } catch (err) {
        await this.#recordProgramCache();
        return settle.reject(err);
      }
      // The first generate's programs go to the cache before it resolves: a process that
      // exits right after it still leaves them for the next one.
      await this.#recordProgramCache();
      settle.resolve(value);
    });
    this.#queue = done;
    return result;
  }

  /** One step through clip, unet, vae and image_to_rgba: every kernel gets built (or read from the program cache). */
  async #warmup(): Promise<void> {
    const model = this.#require();
    const ids = model.tokenizer.encodePadded('');
    const opts = resolveGenerateOptions({ steps: 1, latents: new Float32Array(model.geometry.latentSize) }, model.geometry.latentShape);
    await this.#run(model, { prompt: ids, negative: ids }, '', opts, new StageTimer(), 0);
    await this.#recordProgramCache();
  }

  /** Stores newly built OpenCL programs and records the counts for `sd-mali doctor` (never throws). */
  async #recordProgramCache(): Promise<void> {
    if (this.#model?.device.kind === 'opencl' && this.#model.info.programCache.enabled) await recordProgramCacheRun().catch(() => undefined);
  }

  /** The scheduler of this run, started at the strength's step for img2img and inpainting. */
  #schedulerFor(model: LoadedModel, opts: ResolvedGenerateOptions): { scheduler: Scheduler; beginIndex: number } {
    const base = { steps: opts.steps, ...opts.schedulerOptions, training: model.geometry.training };
    if (opts.strength === undefined) return { scheduler: createScheduler(opts.scheduler, base), beginIndex: 0 };
    const probe = createScheduler(opts.scheduler, base);
    const beginIndex = strengthBeginIndex(opts.steps, opts.strength, schedulerOrder(probe));
    return { scheduler: beginIndex === 0 ? probe : createScheduler(opts.scheduler, { ...base, beginIndex }), beginIndex };
  }

  async #run(model: LoadedModel, ids: PromptIds, prompt: string, opts: ResolvedGenerateOptions, timer: StageTimer, tokenizeMs: number): Promise<GeneratedImage> {
    const { info } = model;
    const { signal } = opts;
    const { scale } = guidanceOf(model, opts);
    throwIfAborted(signal);
    // Decoded before anything runs on the device: a bad image fails the request at once.
    const inputs = await loadInputs(model, opts);
    throwIfAborted(signal);
    const scope = new ResourceScope();
    try {
      const { scheduler, beginIndex } = this.#schedulerFor(model, opts);
      // Given latents have no seed; otherwise the seed asked for, or a random one to report.
      const seed = opts.latents ? undefined : (opts.seed ?? randomSeed());
      // One generator for every draw (encoder sample, noise, ancestral steps), as diffusers passes it.
      const generator = createGenerator(seed ?? randomSeed());

      const [embeddings, textEncoderMs] = await timer.time(async () => {
        const e = await encodePrompt(model, scope, ids);
        await model.device.syncAsync();
        return e;
      });
      const [prepared, encodeImageMs] = await timer.time(async (): Promise<PreparedLatents> => {
        if (!inputs) return prepareTxt2imgLatents(model, scheduler, generator, opts.latents);
        if (!inputs.mask) return prepareImg2imgLatents(model, scope, scheduler, generator, inputs.rgb, beginIndex);
        return prepareInpaintLatents(model, scope, scheduler, generator, inputs.rgb, inputs.mask, opts.strength!, beginIndex);
      });
      const { latents, timings } = await denoise(
        model,
        scope,
        {
          scheduler,
          generator,
          beginIndex,
          embeddings,
          expectedBatch: model.geometry.hostGuidance ? (ids.negative ? 2 : 1) : undefined,
          guidanceScale: scale,
          blend: prepared.blend,
          timer,
          onStep: opts.onStep,
          signal,
          decodeOnAbort: opts.decodeOnAbort,
        },
        prepared.latents,
      );
      if (!opts.decodeOnAbort) throwIfAborted(signal);
      const [image, vaeMs] = await timer.time(() => decodeLatents(model, scope, latents));

      const generationTimings: GenerationTimings = { tokenizeMs, textEncoderMs, ...timings, vaeMs, totalMs: timer.elapsedMs() };
      if (inputs) generationTimings.vaeEncodeMs = encodeImageMs;
      return new GeneratedImage({
        ...image,
        timings: generationTimings,
        latents,
        parameters: {
          prompt,
          negativePrompt: ids.negative ? opts.negativePrompt : '',
          steps: opts.steps,
          scheduler: opts.scheduler,
          ...(seed !== undefined ? { seed } : {}),
          guidanceScale: scale,
          width: image.width,
          height: image.height,
          model: info.modelDir.split('/').pop() ?? '',
          ...(opts.strength !== undefined ? { denoisingStrength: opts.strength } : {}),
          ...(inputs?.mask ? { maskBlur: opts.maskBlur } : {}),
        },
      });
    } finally {
      scope.dispose();
      await this.#releasePooledMemory(model);
    }
  }

  /**
   * Gives the VM's pooled device memory back after a generate. TVM's OpenCL allocator
   * (OpenCLPooledAllocator, TVM <= v0.20 at least) allocates every shaped VM storage afresh
   * but files it in its pool when freed, where nothing asks for it again: each generate left
   * its text-encoder storages there, about 2 MiB on PoCL, for good.
   * Clearing releases only buffers no one uses; the frees queued above run first.
   */
  async #releasePooledMemory(model: LoadedModel): Promise<void> {
    try {
      await model.clearPool?.callAsync();
    } catch {
      // Memory a later generate can still give back must not fail this one.
    }
  }
}
