/**
 * The load stage: a model directory opened once — runtime, device, executable, weights on
 * the device, tokenizer, and the facts every generate reads (latent shape, image size,
 * where guidance happens) resolved from sd-mali.json or, without one, the RK3588 port's
 * fixed SD 1.5 layout.
 */
import { ArtifactError, DeviceUnavailableError, throwIfAborted } from '../errors.js';
import { loadWeights, readWeightIndexFile, summarizeWeights, type ModelWeights, type WeightIndex } from '../artifacts/index.js';
import { SD15_TRAINING, type TrainingConfig } from '../schedulers/index.js';
import type { ClipTokenizer } from '../tokenizer/index.js';
import { configureProgramCache, loadRuntime, type OpenClDeviceIdentity, type OpenClDeviceKind, type Abi, type Device, type NDArray, type PackedFunction, type ProgramCacheState, type TvmArg, type TvmObject, type TvmRuntime } from '../tvm/index.js';
import { chooseDevice } from './device-choice.js';
import { checkEntryResult, entryResults, type EntryFunction, type ResultSpec } from './entry-results.js';
import { readManifest, type ModelManifest } from './manifest.js';
import { inspectModelDirectory, requireWeightIndex } from './model-directory.js';
import type { LoadOptions, LoadPhase } from './options.js';
import { RelaxVm } from './relax-vm.js';
import { ResourceScope } from './resource-scope.js';
import { loadTokenizer, resolveTokenizerSource, type TokenizerOrigin } from './tokenizer-source.js';

/** The entry functions generate needs (their arguments and results: docs/artifact-contract.md, "The executable"). */
export const REQUIRED_FUNCTIONS = ['clip', 'concat_embeddings', 'unet', 'vae', 'image_to_rgba'] as const;
/** Entry functions looked for besides: the VAE encoder (img2img) and the port's compiled scheduler steps. */
const OPTIONAL_FUNCTIONS = ['vae_encode', 'pndm_scheduler_step_0', 'dpm_solver_multistep_scheduler_step'] as const;
/** Functions that take weights: their group is `<group>_0 …`, counted by `<group>ParamSize`. */
const REQUIRED_PARAMS = ['clip', 'unet', 'vae'] as const;
export type ParamGroup = (typeof REQUIRED_PARAMS)[number] | 'vae_encode';
/** The weight group of each function where sd-mali.json does not name it (functions.<f>.params). */
const DEFAULT_GROUPS: Record<ParamGroup, string> = { clip: 'clip', unet: 'unet', vae: 'vae', vae_encode: 'vaeEncode' };

function groupOf(manifest: ModelManifest | undefined, fn: ParamGroup): string {
  const named = manifest?.functions[fn]?.params;
  return typeof named === 'string' && named !== '' ? named : DEFAULT_GROUPS[fn];
}

/** The RK3588 port's SD 1.5 build: 512x512 images, 64x64 latents, guidance 7.5 baked into its unet. */
const LEGACY_LATENT_SHAPE = [1, 4, 64, 64] as const;
const LEGACY_IMAGE = { width: 512, height: 512 } as const;
const SD_SCALING_FACTOR = 0.18215;

export interface ModelGeometry {
  /** [1, channels, height / 8, width / 8]. */
  latentShape: readonly number[];
  latentSize: number;
  image: { width: number; height: number };
  vaeScalingFactor: number;
  /** The training schedule the schedulers use. */
  training: TrainingConfig;
  /**
   * Guidance on the host (sd-mali.json): the unet returns unguided predictions for a batch of
   * 1 or 2. Otherwise (the port's build) it is told by the unet's output batch.
   */
  hostGuidance: boolean;
}

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
  /** Whether the unet applies classifier-free guidance itself (known after the first UNet call or a warmup; false for sd-mali build's models). */
  guidanceBaked: boolean | undefined;
  latentShape: readonly number[];
  /** The image size the model was built for. */
  imageSize: { width: number; height: number };
  /** Whether img2img and inpainting work (the executable has vae_encode and its weights). */
  canEncodeImages: boolean;
  /** What sd-mali.json says, for directories made by sd-mali build. */
  manifest?: {
    file: string;
    generator: string;
    precision: 'float32' | 'float16';
    target: string;
    tvmVersion: string;
    functions: string[];
    source?: string;
    loras: string[];
  };
}

export interface LoadedModel {
  runtime: TvmRuntime;
  device: Device;
  vm: RelaxVm;
  weights: ModelWeights;
  /** Each function's weights as the array it takes, by function name. */
  params: Partial<Record<ParamGroup, TvmObject>>;
  /** vm.builtin.memory_manager.clear, on OpenCL only: see StableDiffusion's releasePooledMemory. */
  clearPool: PackedFunction | undefined;
  tokenizer: ClipTokenizer;
  info: PipelineInfo;
  geometry: ModelGeometry;
  results: Record<EntryFunction, ResultSpec>;
}

/** Calls an entry function and checks that it returned what the artifact contract says. */
export async function callEntry(model: LoadedModel, name: EntryFunction, ...args: TvmArg[]): Promise<NDArray> {
  return checkEntryResult(model.vm.file, name, await model.vm.fn(name).callAsync(...args), model.results);
}

function describeWeights(index: WeightIndex): PipelineInfo['weights'] {
  const summary = summarizeWeights(index);
  const models: PipelineInfo['weights']['models'] = {};
  for (const [name, m] of Object.entries(summary.models)) models[name] = { count: m.count, bytes: m.storedBytes };
  return { indexFile: index.file, totalBytes: index.totalBytes, formats: summary.formats, dtypes: summary.dtypes, models };
}

function geometryOf(manifest: ModelManifest | undefined): ModelGeometry {
  if (!manifest) {
    return {
      latentShape: LEGACY_LATENT_SHAPE,
      latentSize: LEGACY_LATENT_SHAPE.reduce((a: number, b: number) => a * b, 1),
      image: { ...LEGACY_IMAGE },
      vaeScalingFactor: SD_SCALING_FACTOR,
      training: { ...SD15_TRAINING },
      hostGuidance: false,
    };
  }
  const { channels, height, width } = manifest.latent;
  return {
    latentShape: [1, channels, height, width],
    latentSize: channels * height * width,
    image: { ...manifest.image },
    vaeScalingFactor: manifest.vaeScalingFactor,
    training: manifest.training,
    hostGuidance: true,
  };
}

function manifestFacts(m: ModelManifest): NonNullable<PipelineInfo['manifest']> {
  return {
    file: m.file,
    generator: m.generator,
    precision: m.precision,
    target: `${m.target.name} (${m.target.deviceKind}${m.target.host ? `, host ${m.target.host}` : ''})`,
    tvmVersion: m.tvmVersion,
    functions: Object.keys(m.functions).filter((f) => f !== '...'),
    ...(m.source ? { source: m.source.file } : {}),
    loras: m.loras.map((l) => `${l.file}:${l.scale}`),
  };
}

export async function loadModel(dir: string, options: LoadOptions): Promise<LoadedModel> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const model = inspectModelDirectory(dir);
  const manifest = await readManifest(model.dir);
  const geometry = geometryOf(manifest);
  const tokenizerSource = resolveTokenizerSource(model, options.tokenizer);
  const tokenizer = await loadTokenizer(tokenizerSource);
  const index = await readWeightIndexFile(requireWeightIndex(model));
  for (const fn of REQUIRED_PARAMS) {
    const g = groupOf(manifest, fn);
    if (index.paramCounts[g] === undefined) throw new ArtifactError(index.file, `metadata has no ${g}ParamSize: the ${fn} weights cannot be found`);
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
    if (manifest?.precision === 'float16' && openClDevice && !openClDevice.fp16) {
      // Its kernels declare half-precision arithmetic: the driver would refuse to build every
      // one of them, deep inside the first model call.
      throw new DeviceUnavailableError(
        device.toString(),
        'no-fp16',
        `this model directory is an FP16 build and the OpenCL device '${openClDevice.name}' (${openClDevice.vendor}) has no cl_khr_fp16`,
        'run it on a device that has cl_khr_fp16 (the Mali-G610 has), or rebuild it with sd-mali build --dtype float32',
      );
    }
    throwIfAborted(signal);
    const vm = scope.add(await RelaxVm.openAsync(runtime, executable, device));
    const functions: Record<string, boolean> = {};
    for (const name of [...REQUIRED_FUNCTIONS, ...OPTIONAL_FUNCTIONS]) functions[name] = await vm.hasAsync(name);
    for (const name of REQUIRED_FUNCTIONS) if (!functions[name]) throw vm.missingFunction(name);
    progress('module', 0);

    const weights = await loadWeights(runtime, device, index, {
      ...(signal ? { signal } : {}),
      verifyChecksums: options.verifyChecksums ?? false,
      onProgress: (p) => progress('weights', p.loadedBytes),
    });
    for (const list of weights.values()) for (const w of list) scope.add(w);
    const params: LoadedModel['params'] = {};
    const takers: ParamGroup[] = [...REQUIRED_PARAMS, ...(weights.has(groupOf(manifest, 'vae_encode')) ? (['vae_encode'] as const) : [])];
    for (const fn of takers) params[fn] = scope.add(await runtime.arrayAsync(weights.get(groupOf(manifest, fn))!));
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
      guidanceBaked: geometry.hostGuidance ? false : undefined,
      latentShape: geometry.latentShape,
      imageSize: { ...geometry.image },
      canEncodeImages: functions['vae_encode'] === true && params.vae_encode !== undefined,
      ...(manifest ? { manifest: manifestFacts(manifest) } : {}),
    };
    return { runtime, device, vm, weights, params, clearPool, tokenizer, info, geometry, results: entryResults(geometry.latentShape) };
  } catch (err) {
    scope.dispose();
    runtime.dispose();
    throw err;
  }
}

/** Frees everything `loadModel` made. */
export function disposeModel(model: LoadedModel): void {
  for (const p of Object.values(model.params)) p.dispose();
  for (const list of model.weights.values()) for (const w of list) w.dispose();
  model.vm.dispose();
  // After the frees queued above: what they returned to the pool goes back to the device.
  model.clearPool?.callAsync().catch(() => undefined);
  model.clearPool?.dispose();
  model.runtime.dispose();
}
