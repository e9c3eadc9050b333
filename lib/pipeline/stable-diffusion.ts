/**
 * The Stable Diffusion pipeline over a model directory compiled by TVM: load once, then
 * generate images. Every decision (tokens, noise, schedule, guidance) is made here in
 * TypeScript; the executable only runs clip, unet, vae and image_to_rgba.
 */
import { AbortError, ArtifactError, DeviceUnavailableError, InvalidArgumentError, SdMaliError, throwIfAborted } from '../errors.js';
import { loadWeights, readWeightIndexFile, summarizeWeights, type ModelWeights, type WeightIndex } from '../artifacts/index.js';
import { GeneratedImage, type GenerationTimings } from '../image/index.js';
import { createGenerator } from '../random/index.js';
import { createScheduler } from '../schedulers/index.js';
import { ClipTokenizer, CLIP_MAX_LENGTH } from '../tokenizer/index.js';
import { configureProgramCache, cpuOpenClProblem, diagnoseOpenCl, listVendorFiles, loadRuntime, openClSystemView, parseDeviceSpec, probeTvmOpenClDevice, recordProgramCacheRun, type Abi, type OpenClDeviceIdentity, type OpenClDeviceKind, type Device, type NDArray, type PackedFunction, type ProgramCacheState, type TvmArg, type TvmObject, type TvmRuntime } from '../tvm/index.js';
import { EXECUTABLE_KINDS, executableFileName, inspectModelDirectory, requireWeightIndex, type ModelDirectory } from './model-directory.js';
import {
  BAKED_GUIDANCE_SCALE,
  randomSeed,
  resolveGenerateOptions,
  type GenerateOptions,
  type LoadOptions,
  type LoadPhase,
  type ResolvedGenerateOptions,
} from './options.js';
import { checkEntryResult, type EntryFunction } from './entry-results.js';
import { RelaxVm } from './relax-vm.js';
import { loadTokenizer, resolveTokenizerSource, type TokenizerOrigin } from './tokenizer-source.js';
import { ResourceScope } from './resource-scope.js';

/** The entry functions generate needs. */
export const REQUIRED_FUNCTIONS = ['clip', 'concat_embeddings', 'unet', 'vae', 'image_to_rgba'] as const;
const MODELS = ['clip', 'unet', 'vae'] as const;
const LATENT_SHAPE = [1, 4, 64, 64] as const;
const LATENT_SIZE = 4 * 64 * 64;

export interface PipelineInfo {
  modelDir: string;
  /** 'opencl:0', 'cpu:0', ... */
  device: string;
  deviceName: string | undefined;
  /**
   * What the device is: 'cpu' for device cpu, 'gpu' for cuda, vulkan and metal; for OpenCL
   * the CL_DEVICE_TYPE of TVM's device ('gpu', 'accelerator', 'cpu', 'custom'), or
   * 'unknown' when the ICD loader does not list it.
   */
  deviceKind: OpenClDeviceKind;
  /** For OpenCL: TVM's device as the ICD loader lists it (name, vendor, versions, platform). */
  openClDevice: OpenClDeviceIdentity | undefined;
  abi: Abi;
  runtimePath: string;
  executable: string;
  /** Entry functions looked for, and whether the executable has them. */
  functions: Record<string, boolean>;
  weights: {
    indexFile: string;
    totalBytes: number;
    formats: string[];
    dtypes: string[];
    models: Record<string, { count: number; bytes: number }>;
  };
  /** The tokenizer folder, or the bundled merges file. */
  tokenizer: string;
  /** 'option' (given at load), 'model' (<dir>/tokenizer) or 'bundled' (shipped with sd-mali). */
  tokenizerOrigin: TokenizerOrigin;
  /** The OpenCL program cache (process-wide): where, or why it is off. */
  programCache: ProgramCacheState;
  /** Whether the unet applies classifier-free guidance itself (known after the first UNet call or a warmup). */
  guidanceBaked: boolean | undefined;
  latentShape: readonly number[];
}

/** Token ids for the lower-level entry: 77 each, as the tokenizer pads them. */
export interface TokenIds {
  prompt: Int32Array | readonly number[];
  negative: Int32Array | readonly number[];
}

interface Loaded {
  runtime: TvmRuntime;
  device: Device;
  vm: RelaxVm;
  weights: ModelWeights;
  params: Record<(typeof MODELS)[number], TvmObject>;
  /** vm.builtin.memory_manager.clear, on OpenCL only: see #releasePooledMemory. */
  clearPool: PackedFunction | undefined;
  tokenizer: ClipTokenizer;
  info: PipelineInfo;
}

function now(): number {
  return performance.now();
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
 * callers (the CLI) that must refuse bad options before minutes of loading.
 */
export function checkGenerateOptions(options: GenerateOptions): void {
  resolveGenerateOptions(options, LATENT_SIZE);
}

/** Calls an entry function and checks that it returned what the artifact contract says. */
async function callEntry(vm: RelaxVm, name: EntryFunction, ...args: TvmArg[]): Promise<NDArray> {
  return checkEntryResult(vm.file, name, await vm.fn(name).callAsync(...args));
}

interface ChosenDevice {
  device: Device;
  executable: string;
  kind: OpenClDeviceKind;
  openClDevice: OpenClDeviceIdentity | undefined;
}

/**
 * What kind of device `device` is. For OpenCL, TVM's device as the ICD loader lists it; a
 * CPU is refused unless asked for (TVM falls back to one silently: see opencl-device-kind.ts).
 */
async function deviceKindOf(runtime: TvmRuntime, device: Device, allowCpuOpenCl: boolean): Promise<Pick<ChosenDevice, 'kind' | 'openClDevice'>> {
  if (device.kind !== 'opencl') return { kind: device.kind === 'cpu' ? 'cpu' : 'gpu', openClDevice: undefined };
  const view = openClSystemView(runtime);
  const openClDevice = await probeTvmOpenClDevice(view, device.deviceId);
  if (openClDevice?.kind === 'cpu' && !allowCpuOpenCl) {
    const { message, remedy } = cpuOpenClProblem(openClDevice, device.toString(), listVendorFiles(view));
    throw new DeviceUnavailableError(device.toString(), 'cpu-device', message, remedy);
  }
  return { kind: openClDevice?.kind ?? 'unknown', openClDevice };
}

/** Picks the device and its executable. Device queries run on the worker thread. */
async function chooseDevice(runtime: TvmRuntime, model: ModelDirectory, spec: string | undefined, allowCpuOpenCl: boolean): Promise<ChosenDevice> {
  const present = Object.keys(model.executables);
  if (spec !== undefined) {
    const { kind, id } = parseDeviceSpec(spec);
    const executable = kind === 'cpu' ? (model.executables.cpu ?? model.executables.llvm) : model.executables[kind];
    if (!executable) {
      throw new ArtifactError(
        `${model.dir}/${executableFileName(kind)}`,
        `is missing: this model directory was compiled for ${present.length ? present.join(', ') : 'no device'}, not ${kind}`,
      );
    }
    const device = runtime.device(kind, id);
    if (!(await deviceExists(device))) throw await deviceUnavailable(runtime, kind, id);
    return { device, executable, ...(await deviceKindOf(runtime, device, allowCpuOpenCl)) };
  }
  // Chosen for the caller: a CPU OpenCL device is passed over for the next kind (the cpu
  // executable), and refused only when nothing else is left.
  let cpuOpenCl: DeviceUnavailableError | undefined;
  for (const kind of EXECUTABLE_KINDS) {
    const executable = model.executables[kind];
    if (!executable) continue;
    const device = runtime.device(kind === 'llvm' ? 'cpu' : kind);
    if (!(await deviceExists(device))) continue;
    try {
      return { device, executable, ...(await deviceKindOf(runtime, device, allowCpuOpenCl)) };
    } catch (err) {
      if (!(err instanceof DeviceUnavailableError && err.reason === 'cpu-device')) throw err;
      cpuOpenCl = err;
    }
  }
  if (cpuOpenCl) throw cpuOpenCl;
  throw new ArtifactError(model.dir, `has no executable for a device this runtime can use (found: ${present.join(', ') || 'none'})`);
}

/** Why `kind:id` is absent: for OpenCL the first cause diagnoseOpenCl finds. */
async function deviceUnavailable(runtime: TvmRuntime, kind: string, id: number): Promise<DeviceUnavailableError> {
  const name = `${kind}:${id}`;
  if (kind === 'opencl') {
    const d = await diagnoseOpenCl(openClSystemView(runtime));
    if (d.cause !== 'ok' && d.cause !== 'unknown') return new DeviceUnavailableError(name, d.cause, `device ${name} is not available: ${d.message}`, d.remedy);
    if (id > 0) return new DeviceUnavailableError(name, 'no-such-device', `device ${name} is not available: OpenCL works, but there is no device with id ${id}`, 'use opencl:0, or list the devices with sd-mali doctor');
    return new DeviceUnavailableError(name, d.cause, `device ${name} is not available to the TVM runtime (${runtime.libraryPath}): ${d.message}`, d.remedy);
  }
  return new DeviceUnavailableError(name, 'absent', `device ${name} is not available to the TVM runtime (${runtime.libraryPath}): the runtime was built without ${kind} or the device is absent`, `rebuild TVM with ${kind} enabled, or choose another device`);
}

async function deviceExists(device: Device): Promise<boolean> {
  return (await device.attributeAsync('exist')) === 1;
}

function describeWeights(index: WeightIndex): PipelineInfo['weights'] {
  const summary = summarizeWeights(index);
  const models: PipelineInfo['weights']['models'] = {};
  for (const [name, m] of Object.entries(summary.models)) models[name] = { count: m.count, bytes: m.storedBytes };
  return { indexFile: index.file, totalBytes: index.totalBytes, formats: summary.formats, dtypes: summary.dtypes, models };
}

export class StableDiffusion implements Disposable {
  #loaded: Loaded | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(loaded: Loaded) {
    this.#loaded = loaded;
  }

  /** Opens the runtime, loads the executable and puts the weights on the device. */
  static async load(dir: string, options: LoadOptions = {}): Promise<StableDiffusion> {
    const { signal, onProgress } = options;
    throwIfAborted(signal);
    const model = inspectModelDirectory(dir);
    const tokenizerSource = resolveTokenizerSource(model, options.tokenizer);
    const tokenizer = await loadTokenizer(tokenizerSource);
    const index = await readWeightIndexFile(requireWeightIndex(model));
    for (const m of MODELS) {
      if (index.paramCounts[m] === undefined) throw new ArtifactError(index.file, `metadata has no ${m}ParamSize: the ${m} weights cannot be found`);
    }
    const progress = (phase: LoadPhase, loadedBytes: number): void => onProgress?.({ phase, loadedBytes, totalBytes: index.totalBytes });
    throwIfAborted(signal);

    const runtime = loadRuntime(options.tvmRuntime !== undefined ? { library: options.tvmRuntime } : {});
    // Before the executable is loaded: its programs are built (or found) from then on.
    const programCache = configureProgramCache(options.programCache, options.programCacheMaxBytes);
    progress('runtime', 0);
    const scope = new ResourceScope();
    try {
      // Every call from here on runs on the runtime's worker thread without blocking the
      // event loop: another pipeline on the same runtime may be in a long model call.
      const { device, executable, kind: deviceKind, openClDevice } = await chooseDevice(runtime, model, options.device, options.allowCpuOpenCl === true);
      throwIfAborted(signal);
      const vm = scope.add(await RelaxVm.openAsync(runtime, executable, device));
      const functions: Record<string, boolean> = {};
      for (const name of [...REQUIRED_FUNCTIONS, 'pndm_scheduler_step_0', 'dpm_solver_multistep_scheduler_step']) functions[name] = await vm.hasAsync(name);
      for (const name of REQUIRED_FUNCTIONS) if (!functions[name]) throw vm.missingFunction(name);
      progress('module', 0);

      const weights = await loadWeights(runtime, device, index, {
        ...(signal ? { signal } : {}),
        verifyChecksums: options.verifyChecksums ?? false,
        onProgress: (p) => progress('weights', p.loadedBytes),
      });
      for (const list of weights.values()) for (const w of list) scope.add(w);
      const params = {} as Loaded['params'];
      for (const m of MODELS) params[m] = scope.add(await runtime.arrayAsync(weights.get(m)!));
      const deviceName = await device.attributeAsync('deviceName');
      const clearPool = device.kind === 'opencl' ? await runtime.findGlobalFunctionAsync('vm.builtin.memory_manager.clear') : undefined;
      if (clearPool) scope.add(clearPool);
      const info: PipelineInfo = {
        modelDir: model.dir,
        device: device.toString(),
        deviceName: typeof deviceName === 'string' ? deviceName : undefined,
        deviceKind,
        openClDevice,
        abi: runtime.abi,
        runtimePath: runtime.libraryPath,
        executable,
        functions,
        weights: describeWeights(index),
        tokenizer: tokenizerSource.path,
        tokenizerOrigin: tokenizerSource.origin,
        programCache,
        guidanceBaked: undefined,
        latentShape: LATENT_SHAPE,
      };
      const pipe = new StableDiffusion({ runtime, device, vm, weights, params, clearPool, tokenizer, info });
      if (options.warmup) {
        throwIfAborted(signal);
        await pipe.#warmup();
        progress('warmup', index.totalBytes);
      }
      return pipe;
    } catch (err) {
      scope.dispose();
      runtime.dispose();
      throw err;
    }
  }

  /** What was found and loaded. */
  get info(): PipelineInfo {
    return { ...this.#require().info };
  }

  get tokenizer(): ClipTokenizer {
    return this.#require().tokenizer;
  }

  get disposed(): boolean {
    return this.#loaded === undefined;
  }

  /**
   * Makes an image from a prompt. Calls are queued: a second generate starts when the
   * first one has ended. Aborting (signal) stops between steps with an AbortError and
   * leaves the pipeline usable.
   */
  generate(prompt: string, options: GenerateOptions = {}): Promise<GeneratedImage> {
    if (typeof prompt !== 'string') return Promise.reject(new InvalidArgumentError('the prompt must be a string'));
    return this.#enqueue(async () => {
      const loaded = this.#require();
      const opts = resolveGenerateOptions(options, LATENT_SIZE);
      const t0 = now();
      const ids = { prompt: loaded.tokenizer.encodePadded(prompt), negative: loaded.tokenizer.encodePadded(opts.negativePrompt) };
      return this.#run(loaded, ids, prompt, opts, now() - t0);
    }, options.signal);
  }

  /** The same pipeline from token ids (77 each, padded as the tokenizer pads them). */
  generateFromIds(ids: TokenIds, options: GenerateOptions = {}): Promise<GeneratedImage> {
    return this.#enqueue(async () => {
      const loaded = this.#require();
      const opts = resolveGenerateOptions(options, LATENT_SIZE);
      const vocab = loaded.tokenizer.vocabSize;
      const checked = { prompt: toIds(ids.prompt, 'prompt ids', vocab), negative: toIds(ids.negative, 'negative ids', vocab) };
      return this.#run(loaded, checked, '', opts, 0);
    }, options.signal);
  }

  /** Frees everything on the device. Queued generates fail with DisposedError-like errors. */
  dispose(): void {
    const loaded = this.#loaded;
    if (!loaded) return;
    this.#loaded = undefined;
    for (const p of Object.values(loaded.params)) p.dispose();
    for (const list of loaded.weights.values()) for (const w of list) w.dispose();
    loaded.vm.dispose();
    // After the frees queued above: what they returned to the pool goes back to the device.
    loaded.clearPool?.callAsync().catch(() => undefined);
    loaded.clearPool?.dispose();
    loaded.runtime.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #require(): Loaded {
    if (!this.#loaded) throw new SdMaliError('DISPOSED', 'this StableDiffusion pipeline was disposed');
    return this.#loaded;
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
    const loaded = this.#require();
    const ids = loaded.tokenizer.encodePadded('');
    await this.#run(loaded, { prompt: ids, negative: ids }, '', resolveGenerateOptions({ steps: 1, latents: new Float32Array(LATENT_SIZE) }, LATENT_SIZE), 0);
    await this.#recordProgramCache();
  }

  /** Stores newly built OpenCL programs and records the counts for `sd-mali doctor` (never throws). */
  async #recordProgramCache(): Promise<void> {
    if (this.#loaded?.device.kind === 'opencl' && this.#loaded.info.programCache.enabled) await recordProgramCacheRun().catch(() => undefined);
  }

  async #encodeText(loaded: Loaded, scope: ResourceScope, ids: { prompt: Int32Array; negative: Int32Array }): Promise<NDArray> {
    const { runtime, device, vm, params } = loaded;
    const promptIds = scope.add(await runtime.ndarrayAsync(ids.prompt, [1, CLIP_MAX_LENGTH], 'int32', device));
    const negativeIds = scope.add(await runtime.ndarrayAsync(ids.negative, [1, CLIP_MAX_LENGTH], 'int32', device));
    const cond = scope.add(await callEntry(vm, 'clip', promptIds, params.clip));
    const uncond = scope.add(await callEntry(vm, 'clip', negativeIds, params.clip));
    // The negative prompt goes first: the unet reads batch 0 as unconditional.
    return scope.add(await callEntry(vm, 'concat_embeddings', uncond, cond));
  }

  async #run(
    loaded: Loaded,
    ids: { prompt: Int32Array; negative: Int32Array },
    prompt: string,
    opts: ResolvedGenerateOptions,
    tokenizeMs: number,
  ): Promise<GeneratedImage> {
    const started = now() - tokenizeMs;
    const { runtime, device, vm, params, info } = loaded;
    const { signal } = opts;
    if (info.guidanceBaked === true && opts.guidanceScale !== undefined && opts.guidanceScale !== BAKED_GUIDANCE_SCALE) {
      throw new InvalidArgumentError(`this executable bakes guidance scale ${BAKED_GUIDANCE_SCALE} into its unet; guidanceScale ${opts.guidanceScale} cannot be applied`);
    }
    throwIfAborted(signal);
    const scope = new ResourceScope();
    try {
      const scheduler = createScheduler(opts.scheduler, { steps: opts.steps, ...opts.schedulerOptions });
      // Given latents have no seed; otherwise the seed asked for, or a random one to report.
      const seed = opts.latents ? undefined : (opts.seed ?? randomSeed());
      // One generator for the initial noise and the ancestral steps, as diffusers passes it.
      const generator = createGenerator(seed ?? randomSeed());
      const noise = opts.latents ?? (await generator.randnAsync(LATENT_SHAPE));
      const sigma = scheduler.initNoiseSigma;
      let x: Float32Array = noise.map((v) => Math.fround(v * sigma));

      let t = now();
      const embeddings = await this.#encodeText(loaded, scope, ids);
      await device.syncAsync();
      const textEncoderMs = now() - t;

      const latents = scope.add(await runtime.emptyAsync(LATENT_SHAPE, 'float32', device));
      const timestep = scope.add(await runtime.emptyAsync([], 'int32', device));
      const unetMs: number[] = [];
      const schedulerMs: number[] = [];
      const copyMs: number[] = [];
      for (let i = 0; i < scheduler.length; i++) {
        if (signal?.aborted) {
          if (opts.decodeOnAbort && i > 0) break;
          throw new AbortError(`generation aborted after ${i} of ${scheduler.length} steps`, { cause: signal.reason });
        }
        t = now();
        // Asynchronous copies: a synchronous one would block the event loop behind any
        // model call queued on this runtime (another pipeline's UNet step).
        await latents.copyFromAsync(scheduler.scaleModelInput(x, i));
        await timestep.copyFromAsync(Int32Array.of(scheduler.modelTimestep(i)));
        const copyIn = now() - t;

        t = now();
        const out = scope.add(await callEntry(vm, 'unet', latents, timestep, embeddings, params.unet));
        // Wait for the device once per UNet step: the Mali driver fails with
        // CL_OUT_OF_HOST_MEMORY when kernels keep queueing without a sync (apache/tvm#16530).
        await device.syncAsync();
        unetMs.push(now() - t);

        t = now();
        const prediction = await out.toFloat32ArrayAsync();
        const batch = out.shape[0];
        out.dispose();
        copyMs.push(copyIn + now() - t);

        t = now();
        const eps = this.#guide(info, prediction, batch, opts.guidanceScale);
        x = scheduler.step(eps, i, x, generator);
        schedulerMs.push(now() - t);
        opts.onStep?.({ step: i + 1, steps: scheduler.length, timestep: scheduler.timesteps[i]!, elapsedMs: now() - started, latents: x });
      }
      if (!opts.decodeOnAbort) throwIfAborted(signal);

      t = now();
      await latents.copyFromAsync(x);
      const decoded = scope.add(await callEntry(vm, 'vae', latents, params.vae));
      const packed = scope.add(await callEntry(vm, 'image_to_rgba', decoded));
      await device.syncAsync();
      const [height, width] = packed.shape as [number, number];
      if (height !== decoded.shape[1] || width !== decoded.shape[2]) {
        throw new ArtifactError(vm.file, `entry function 'image_to_rgba' returned [${height},${width}] for a vae image of [${decoded.shape.join(',')}]`);
      }
      const pixels = (await packed.toTypedArrayAsync()) as Uint32Array;
      // uint32 R | G<<8 | B<<16 | A<<24 read as bytes on a little-endian host is RGBA.
      const rgba = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
      const vaeMs = now() - t;

      const timings: GenerationTimings = {
        tokenizeMs,
        textEncoderMs,
        unetMs,
        schedulerMs,
        copyMs,
        vaeMs,
        totalMs: now() - started,
      };
      return new GeneratedImage({
        width,
        height,
        rgba,
        timings,
        latents: x,
        parameters: {
          prompt,
          negativePrompt: opts.negativePrompt,
          steps: opts.steps,
          scheduler: opts.scheduler,
          ...(seed !== undefined ? { seed } : {}),
          guidanceScale: opts.guidanceScale ?? BAKED_GUIDANCE_SCALE,
          width,
          height,
          model: info.modelDir.split('/').pop() ?? '',
        },
      });
    } finally {
      scope.dispose();
      await this.#releasePooledMemory(loaded);
    }
  }

  /**
   * Gives the VM's pooled device memory back after a generate. TVM's OpenCL allocator
   * (OpenCLPooledAllocator, TVM <= v0.20 at least) allocates every shaped VM storage afresh
   * but files it in its pool when freed, where nothing asks for it again: each generate left
   * its text-encoder storages there, about 2 MiB on PoCL, for good (issue 15, item 10).
   * Clearing releases only buffers no one uses; the frees queued above run first.
   */
  async #releasePooledMemory(loaded: Loaded): Promise<void> {
    try {
      await loaded.clearPool?.callAsync();
    } catch {
      // Memory a later generate can still give back must not fail this one.
    }
  }

  /**
   * The guided noise prediction: the unet's own (guidance baked in), or uncond + g * (cond - uncond).
   * Records in `info` which of the two the executable does.
   */
  #guide(info: PipelineInfo, prediction: Float32Array, batch: number | undefined, guidanceScale: number | undefined): Float32Array {
    if (batch === 1) {
      info.guidanceBaked = true;
      if (guidanceScale !== undefined && guidanceScale !== BAKED_GUIDANCE_SCALE) {
        throw new InvalidArgumentError(`this executable bakes guidance scale ${BAKED_GUIDANCE_SCALE} into its unet; guidanceScale ${guidanceScale} cannot be applied`);
      }
      return prediction;
    }
    if (batch !== 2) throw new ArtifactError(info.executable, `unet returned a batch of ${String(batch)}; expected 1 (guidance inside) or 2 (unconditional, conditional)`);
    info.guidanceBaked = false;
    const g = Math.fround(guidanceScale ?? BAKED_GUIDANCE_SCALE);
    const half = prediction.length / 2;
    const eps = new Float32Array(half);
    for (let k = 0; k < half; k++) {
      const u = prediction[k]!;
      eps[k] = Math.fround(u + Math.fround(g * Math.fround(prediction[half + k]! - u)));
    }
    return eps;
  }
}
